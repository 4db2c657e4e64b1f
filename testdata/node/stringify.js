// JSON.stringify(JSON.parse(text)) for each input line, for the Go differential test
// (internal/jsjson TestDifferentialAgainstNode).
//
//   node testdata/node/stringify.js < lines
//
// Each input line is a JSON text's bytes in base64; they are decoded as UTF-8 the way a
// Node server decodes a request body (Buffer#toString: ill-formed sequences become
// U+FFFD). Each output line is "ok <base64 of the UTF-8 output>" or
// "error <base64 of the error message>", so that no output byte (a raw U+2028, a newline
// in an error message) can break the line framing.
'use strict';

const readline = require('readline');

const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];

lines.on('line', (line) => {
  const text = Buffer.from(line, 'base64').toString('utf8');
  let result;
  try {
    result = 'ok ' + b64(JSON.stringify(JSON.parse(text)));
  } catch (err) {
    result = 'error ' + b64(String(err && err.message));
  }
  out.push(result);
  if (out.length >= 256) flush();
});
lines.on('close', flush);

function flush() {
  if (out.length > 0) process.stdout.write(out.join('\n') + '\n');
  out.length = 0;
}
