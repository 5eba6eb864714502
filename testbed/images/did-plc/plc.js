// A PLC directory (did:plc registry) for an offline PDS: @did-plc/server on PostgreSQL
// (PLC_DB_URL, migrated to the latest schema at start), or in memory when PLC_DB_URL is unset.
// Listens on PLC_PORT (default 2582); stops on SIGTERM.
'use strict'
const { Database, PlcServer } = require('@did-plc/server')
const pkg = require('@did-plc/server/package.json')

const main = async () => {
  const url = process.env.PLC_DB_URL
  let db
  if (url) {
    db = Database.postgres({ url })
    await db.migrateToLatestOrThrow()
  } else {
    db = Database.mock()
  }
  const port = parseInt(process.env.PLC_PORT || '2582', 10)
  const server = PlcServer.create({ db, port, version: pkg.version })
  await server.start()
  console.log(`plc ${pkg.version} listening on ${port} (${url ? 'postgres' : 'in memory'})`)
  process.on('SIGTERM', () => process.exit(0))
  process.on('SIGINT', () => process.exit(0))
}

main().catch((err) => {
  console.error('plc failed to start:', err)
  process.exit(1)
})
