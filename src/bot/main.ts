// The bot process: `npm run bot`. Reads .env, connects to Discord and Redis, and runs until SIGTERM.
import { ConfigError, loadBotConfig, loadDotenv } from '../config.js';
import { defaultLog, startBot } from './bot.js';

await loadDotenv();
let config;
try {
  config = loadBotConfig();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : String(err));
  process.exit(1);
}

// Nothing a handler throws may take the bot down; log it and keep serving.
process.on('unhandledRejection', (reason) => defaultLog(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`));
process.on('uncaughtException', (err) => defaultLog(`uncaught exception: ${err.stack ?? err.message}`));

let bot: Awaited<ReturnType<typeof startBot>>;
try {
  bot = await startBot({ config });
} catch (err) {
  // Usually a wrong token (Discord answers 401) or Redis not reachable; never print the token itself.
  defaultLog(`could not start: ${(err as Error).message}`);
  process.exit(1);
}
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) {
      // A graceful stop waits on Redis and Discord; a second signal is the way out when either is gone.
      defaultLog(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    bot.stop().then(
      () => process.exit(0),
      (err: Error) => {
        defaultLog(`shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  });
}
