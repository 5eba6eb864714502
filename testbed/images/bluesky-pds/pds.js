// Starts the PDS from its environment, as the official image's service entry does, reporting
// the installed package's version on /xrpc/_health; stops cleanly on SIGTERM.
'use strict'
const { PDS, envToCfg, envToSecrets, readEnv } = require('@atproto/pds')
const pkg = require('@atproto/pds/package.json')

const main = async () => {
  const env = readEnv()
  env.version = env.version || pkg.version
  const pds = await PDS.create(envToCfg(env), envToSecrets(env))
  await pds.start()
  console.log(`pds ${pkg.version} listening on ${env.port}`)
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    try {
      await pds.destroy()
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  console.error('pds failed to start:', err)
  process.exit(1)
})
