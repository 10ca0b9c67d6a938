#!/usr/bin/env node
// Stands in for a script whose feature belongs to a later issue, so the script name is reserved
// and a caller gets a clear answer instead of "missing script".
const [script, owner] = process.argv.slice(2);
console.error(`pnpm ${script} is not yet available: it arrives with ${owner}.`);
process.exit(1);
