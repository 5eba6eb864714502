// The stand-in meeting page's API, driven by the suite in Chromium (WebDriver executeAsync):
// join a LiveKit room with a token, publish the (fake) microphone, and report what the room
// shows: the remote participants, their published tracks, and the RTP statistics of the audio
// this participant receives and sends. Everything reported comes from livekit-client's Room
// and the browser's RTCPeerConnection statistics, nothing is computed here.
(function () {
  'use strict';
  var LK = window.LivekitClient;
  var room = null;

  function show() {
    var status = document.getElementById('status');
    var list = document.getElementById('participants');
    if (!status || !list) return;
    status.textContent = room ? 'joined ' + room.name + ' as ' + room.localParticipant.identity + ' (' + room.state + ')' : 'not joined';
    list.textContent = '';
    if (!room) return;
    room.remoteParticipants.forEach(function (p) {
      var li = document.createElement('li');
      li.textContent = p.identity;
      list.appendChild(li);
    });
  }

  function message(e) {
    return (e && (e.message || e.reason || String(e))) || 'unknown error';
  }

  // Sums the RTP counters of one direction ('inbound-rtp' / 'outbound-rtp') of audio.
  function rtp(report, type) {
    var sum = { packets: 0, bytes: 0, streams: 0 };
    if (!report) return sum;
    report.forEach(function (s) {
      if (s.type === type && (s.kind === 'audio' || s.mediaType === 'audio')) {
        sum.streams += 1;
        sum.packets += (type === 'inbound-rtp' ? s.packetsReceived : s.packetsSent) || 0;
        sum.bytes += (type === 'inbound-rtp' ? s.bytesReceived : s.bytesSent) || 0;
      }
    });
    return sum;
  }

  window.ccciMeet = {
    version: LK ? LK.version : null,

    // Connects to `url` (wss://...) with `token`; resolves to the local identity and the room's
    // server-side id, or rejects with LiveKit's error.
    join: function (url, token) {
      room = new LK.Room({ adaptiveStream: false, dynacast: false });
      room.on(LK.RoomEvent.ParticipantConnected, show);
      room.on(LK.RoomEvent.ParticipantDisconnected, show);
      room.on(LK.RoomEvent.ConnectionStateChanged, show);
      return room.connect(url, token, { autoSubscribe: true }).then(function () {
        show();
        return room.getSid().then(function (sid) {
          return { identity: room.localParticipant.identity, room: room.name, sid: sid, state: room.state };
        });
      });
    },

    // Publishes the microphone (Chromium's fake device: a tone); resolves to the track sid.
    publishMic: function () {
      return room.localParticipant.setMicrophoneEnabled(true).then(function (pub) {
        return pub ? pub.trackSid : null;
      });
    },

    // What this participant sees of the room now.
    state: function () {
      if (!room) return Promise.resolve({ state: 'none', remotes: [] });
      var remotes = [];
      var inbound = [];
      room.remoteParticipants.forEach(function (p) {
        var tracks = [];
        p.trackPublications.forEach(function (pub) {
          tracks.push({ sid: pub.trackSid, kind: pub.kind, subscribed: pub.isSubscribed });
          if (pub.kind === 'audio' && pub.track) inbound.push(pub.track.getRTCStatsReport());
        });
        remotes.push({ identity: p.identity, tracks: tracks });
      });
      var outbound = [];
      room.localParticipant.trackPublications.forEach(function (pub) {
        if (pub.kind === 'audio' && pub.track) outbound.push(pub.track.getRTCStatsReport());
      });
      return Promise.all([Promise.all(inbound), Promise.all(outbound)]).then(function (reports) {
        var rx = { packets: 0, bytes: 0, streams: 0 };
        reports[0].forEach(function (r) { var s = rtp(r, 'inbound-rtp'); rx.packets += s.packets; rx.bytes += s.bytes; rx.streams += s.streams; });
        var tx = { packets: 0, bytes: 0, streams: 0 };
        reports[1].forEach(function (r) { var s = rtp(r, 'outbound-rtp'); tx.packets += s.packets; tx.bytes += s.bytes; tx.streams += s.streams; });
        return {
          state: room.state,
          identity: room.localParticipant.identity,
          remotes: remotes,
          audioReceived: rx,
          audioSent: tx,
        };
      });
    },

    leave: function () {
      var r = room;
      room = null;
      show();
      return r ? r.disconnect() : Promise.resolve();
    },

    // Wraps a promise for executeAsync: `done` gets {ok: value} or {error: message}.
    settle: function (promise, done) {
      Promise.resolve(promise).then(function (v) { done({ ok: v === undefined ? null : v }); }, function (e) { done({ error: message(e) }); });
    },
  };
})();
