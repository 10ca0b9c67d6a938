// Unit tests take milliseconds on a quiet machine; some fork a process, hash passwords or hold a
// socket open, which takes several times longer when other work keeps the cores busy. The bound
// only catches a hang, never a slow machine.
jest.setTimeout(30_000);
