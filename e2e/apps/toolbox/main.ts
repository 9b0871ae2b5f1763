// A pod that only exists to be exec'd into (curl from inside its network namespace), like
// the curlimages/curl pods people keep around for debugging: it idles until terminated.
const timer = setInterval(() => undefined, 1 << 30);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    clearInterval(timer);
    process.exit(0);
  });
}
console.log(JSON.stringify({ msg: 'toolbox idle', pod: process.env.POD_NAME }));
