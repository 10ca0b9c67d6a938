import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogCapture, waitForLog, type LogLine } from '../../harness/log-capture';

const FIXTURE = path.resolve(__dirname, '../fixtures/process/lifecycle.ts');

interface Fixture {
  child: ChildProcess;
  lines: LogLine[];
  /** Resolves with the first line matching `predicate`, once it is printed. */
  line(predicate: (line: LogLine) => boolean): Promise<LogLine>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Forks the fixture (TypeScript, through tsx) and waits until its lifecycle is installed. */
async function start(mode: string, env: Record<string, string> = {}): Promise<Fixture> {
  const child = fork(FIXTURE, [mode], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const capture = new LogCapture();
  child.stdout?.on('data', (chunk: Buffer) => capture.push(chunk.toString('utf8')));
  // Its output has all been read once stdout ends (the child's 'close' would say the same, but
  // never comes after the parent disconnects the IPC channel itself).
  let ended = false;
  child.stdout?.once('end', () => (ended = true));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const line = (predicate: (line: LogLine) => boolean) =>
    waitForLog(() => capture.lines, predicate, {
      ended: () => ended,
      context: () => JSON.stringify(capture.lines),
    });
  await line((l) => l.event === 'ready');
  return { child, lines: capture.lines, line, exit };
}

const events = (fixture: Fixture) =>
  fixture.lines.filter((line) => line.event !== undefined && line.event !== 'ready');

let running: Fixture | undefined;
afterEach(() => {
  running?.child.kill('SIGKILL');
  running = undefined;
});

// Each test waits for what the fixture prints, never for a fixed time, except to let a repeat
// window pass (waiting longer than needed only makes that stronger).
describe('process lifecycle (forked fixture processes)', () => {
  it('starts one stop on SIGTERM, with exit code 0', async () => {
    running = await start('plain');
    running.child.kill('SIGTERM');
    expect(await running.exit).toEqual({ code: 0, signal: null });
    expect(events(running)).toEqual([{ event: 'stop', reason: 'SIGTERM', code: 0 }]);
  });

  it('treats copies of one signal arriving together (Ctrl-C to a group, relayed by pnpm) as one', async () => {
    running = await start('plain', { STOP_MS: '1000', WINDOW_MS: '2000' });
    running.child.kill('SIGINT');
    running.child.kill('SIGINT');
    expect(await running.exit).toEqual({ code: 0, signal: null });
    expect(events(running)).toEqual([{ event: 'stop', reason: 'SIGINT', code: 0 }]);
  });

  it('forces (exit 1) on a stop signal repeated after the window', async () => {
    running = await start('plain', { STOP_MS: '60000', WINDOW_MS: '300' });
    running.child.kill('SIGTERM');
    await running.line((l) => l.event === 'stop');
    await sleep(600);
    running.child.kill('SIGINT');
    expect(await running.exit).toEqual({ code: 1, signal: null });
    expect(events(running)).toEqual([
      { event: 'stop', reason: 'SIGTERM', code: 0 },
      { event: 'force', reason: 'SIGINT' },
    ]);
  });

  it.each([
    ['crash', 'uncaught exception', 'uncaughtException', 'fixture crash'],
    ['reject', 'unhandled promise rejection', 'unhandledRejection', 'fixture rejection'],
  ])('logs a fatal error (%s) and stops with exit code 1', async (mode, message, reason, error) => {
    running = await start(mode);
    expect(await running.exit).toEqual({ code: 1, signal: null });
    expect(running.lines).toContainEqual(
      expect.objectContaining({
        level: 'fatal',
        msg: message,
        err: expect.objectContaining({ message: error }),
      }),
    );
    expect(events(running)).toEqual([{ event: 'stop', reason, code: 1 }]);
  });

  it('runs the handler of another signal and keeps running', async () => {
    running = await start('plain');
    running.child.kill('SIGHUP');
    await running.line((l) => l.event === 'SIGHUP');
    running.child.kill('SIGTERM');
    expect(await running.exit).toEqual({ code: 0, signal: null });
    expect(events(running)).toEqual([
      { event: 'SIGHUP' },
      { event: 'stop', reason: 'SIGTERM', code: 0 },
    ]);
  });

  it('stops when the parent process disconnects', async () => {
    running = await start('plain');
    running.child.disconnect();
    expect(await running.exit).toEqual({ code: 0, signal: null });
    expect(events(running)).toEqual([{ event: 'stop', reason: 'parent process gone', code: 0 }]);
  });

  it('removes every listener on uninstall: a SIGTERM then ends the process as Node would', async () => {
    running = await start('uninstalled');
    expect(running.lines[0]).toEqual({ event: 'ready', listeners: 0 });
    running.child.kill('SIGTERM');
    expect(await running.exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(events(running)).toEqual([]);
  });
});
