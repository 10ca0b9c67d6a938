/**
 * Reads a password for a command-line tool, never from argv (which other users of the machine
 * can read in `ps`, and shells keep in their history): from the terminal without echo, or from
 * stdin when it is piped (`printf '%s\n' "$PASSWORD" | pnpm admin:create ...`).
 */

/** The first line of a piped stdin, without its line ending. */
async function readPipedLine(stdin: NodeJS.ReadStream): Promise<string> {
  let text = '';
  for await (const chunk of stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/, 1)[0] ?? '';
}

/** One line typed at the terminal, echoing nothing. Ctrl-C exits with 130. */
function readHiddenLine(prompt: string, stdin: NodeJS.ReadStream, out: NodeJS.WriteStream) {
  return new Promise<string>((resolve) => {
    // Raw mode (no echo) before the prompt: nothing typed after it is ever shown.
    stdin.setRawMode(true);
    out.write(prompt);
    stdin.resume();
    stdin.setEncoding('utf8');
    let line = '';
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          out.write('\n');
          resolve(line);
          return;
        }
        if (char === '\u0003') {
          stdin.setRawMode(false);
          out.write('\n');
          process.exit(130);
        }
        if (char === '\u007f' || char === '\b') line = [...line].slice(0, -1).join('');
        else line += char;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * The password: typed twice at a terminal (without echo, the two must match), or the first line
 * of a piped stdin.
 * @throws {Error} when the two typed passwords differ.
 */
export async function readPassword(
  stdin: NodeJS.ReadStream = process.stdin,
  out: NodeJS.WriteStream = process.stderr,
): Promise<string> {
  if (!stdin.isTTY) return readPipedLine(stdin);
  const first = await readHiddenLine('Password: ', stdin, out);
  const second = await readHiddenLine('Repeat it: ', stdin, out);
  if (first !== second) throw new Error('The two passwords differ');
  return first;
}
