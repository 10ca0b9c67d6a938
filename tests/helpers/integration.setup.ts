// Each file opens its own embedded database (about 1 s); leave room on a loaded CI machine.
jest.setTimeout(30_000);
