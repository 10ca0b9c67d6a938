// e2e tests start servers and run traffic; they are bounded by their own waits, not by jest.
jest.setTimeout(120_000);
