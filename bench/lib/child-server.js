// For the bench's child processes: listen on an ephemeral loopback port, announce it
// as one JSON line on stdout (the runner waits for it), and stop cleanly on a signal.

/** Starts `server` (node:http, node:https or node:tls) on 127.0.0.1:0, prints {"port":N}, exits 0 on SIGTERM/SIGINT. */
export function serveAndAnnounce(server) {
  server.listen({ host: '127.0.0.1', port: 0 }, () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
  const stop = () => {
    server.close();
    server.closeAllConnections?.(); // node:http servers only; the rest end at exit
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
