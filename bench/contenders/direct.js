// The ceiling: the client talks HTTPS straight to the first web server, no proxy.
// There is no proxy process, so no proxy CPU or RSS is reported for it.

export default {
  name: 'direct',
  describe: () => 'straight to web1 (the ceiling; no proxy)',
  balances: [null],
  available: () => Promise.resolve({ ok: true }),
  start({ certs, servers }) {
    const web1 = servers[0];
    return Promise.resolve({
      port: web1.port,
      servername: certs.servers[web1.name].servername,
      pid: null,
      stop: () => Promise.resolve(),
    });
  },
};
