// Node preload: a server that calls listen(port) or listen(port, cb) without
// a host would bind every interface; this binds it to 127.0.0.1 instead.
// The conformance suite's per-scenario servers do that. The bind stays
// synchronous (net.Server#_listen2, which listen() itself uses for a
// port-only call) because the suite reads server.address().port right after
// listen().
'use strict';
const net = require('node:net');
const listen = net.Server.prototype.listen;

function isPortOnly(args) {
  const [port, cb] = args;
  const numeric = typeof port === 'number' || (typeof port === 'string' && /^\d+$/.test(port));
  return numeric && (cb === undefined || typeof cb === 'function');
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  if (isPortOnly(args)) {
    if (typeof this._listen2 === 'function') {
      if (typeof args[1] === 'function') this.once('listening', args[1]);
      this._listen2('127.0.0.1', Number(args[0]), 4, 511, null, 0);
      return this;
    }
    args.splice(1, 0, '127.0.0.1');
  } else if (args[0] && typeof args[0] === 'object' && !args[0].host && !('path' in args[0]) && !('fd' in args[0])) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
