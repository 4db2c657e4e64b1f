// Golden vectors for UI-extension signatures, computed by JavaScript itself.
//
//   node testdata/node/golden.js > testdata/golden/ui_signatures.json
//
// Each case is what a Stripe UI extension's fetchStripeSignature(payload) leads to: the
// signed string JSON.stringify({...payload, user_id, account_id}) (or the default
// {"user_id":…,"account_id":…} without a payload) and its Stripe-Signature header,
// HMAC-SHA256 keyed with the app secret over `${timestamp}.${signed}`. payload_text is
// the payload as a client might write it (pretty-printed, odd spacing, needless escapes,
// odd number spellings); the Go tests parse it and must print payload_stringified and
// signed byte for byte.
//
// The generator is deterministic (a seeded PRNG), so rerunning it rewrites the same file.
// Only Node's crypto module is used.
'use strict';

const crypto = require('crypto');

// mulberry32: a small seeded PRNG, so that the file is reproducible.
function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(20240601);
const int = (n) => Math.floor(rand() * n);
const pick = (list) => list[int(list.length)];
const chance = (p) => rand() < p;

const SECRETS = [
  'absec_test_secret',
  'absec_Zx8Kq2vLmN4pR7tY1wC3eF6hJ9aB0dG5',
  'absec_live_0123456789abcdefABCDEF',
  // Longer than SHA-256's 64-byte block: HMAC hashes the key first.
  'absec_' + 'k'.repeat(90),
];

const USERS = [
  'usr_K6yd2CbXLO9A5G', 'usr_1a2B3c4D5e6F7g', 'usr_Zz9Yy8Xx7Ww6Vv', 'usr_ünïcødé',
  'usr_🙂astral', 'usr_\u2028sep', 'usr_<b>&amp;', 'usr_"quoted"\\', 'usr_tab\there',
  'usr_\u0001ctl', '0', '',
];
const ACCOUNTS = [
  'acct_1JSkf6FRwUQjTSJE', 'acct_1NxQ2rLkPqRsTuVw', 'acct_1AbCdEfGhIjKlMnO', 'acct_ü€𝄞',
  'acct_\u2029', 'acct_</script>', '42',
];

const WS = [' ', '\t', '\n', '\r'];

function whitespace(style) {
  if (style !== 'odd' || !chance(0.4)) return '';
  let s = '';
  for (let n = 1 + int(3); n > 0; n--) s += pick(WS);
  return s;
}

// writeString writes s as a JSON string literal, escaping some characters needlessly
// the way hand-written or other-language JSON does.
function writeString(s, style) {
  const escapes = style === 'odd' || style === 'escaped';
  let out = '"';
  for (const ch of s) { // by code point; a lone surrogate comes out alone
    const cp = ch.codePointAt(0);
    const hex = (u) => {
      const h = u.toString(16).padStart(4, '0');
      return '\\u' + (chance(0.5) ? h : h.toUpperCase());
    };
    if (ch === '"') out += chance(0.2) && escapes ? '\\u0022' : '\\"';
    else if (ch === '\\') out += chance(0.2) && escapes ? '\\u005C' : '\\\\';
    else if (cp < 0x20) {
      const short = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' }[cp];
      out += short && (!escapes || chance(0.5)) ? short : hex(cp);
    } else if (cp >= 0xd800 && cp <= 0xdfff) out += hex(cp); // never raw: not UTF-8
    else if (ch === '/' && escapes && chance(0.5)) out += '\\/';
    else if (cp > 0xffff && escapes && chance(0.5)) {
      const p = cp - 0x10000;
      out += hex(0xd800 + (p >> 10)) + hex(0xdc00 + (p & 0x3ff));
    } else if (cp <= 0xffff && escapes && chance(0.1)) out += hex(cp);
    else out += ch;
  }
  return out + '"';
}

// A value for the writer: objects are lists of [key, value] pairs so that duplicate
// keys and key order can be written as a client would; {num: text} is a number literal.
const num = (text) => ({ num: text });
const obj = (...pairs) => ({ obj: pairs });

function write(v, style, indent = '') {
  if (v === null || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return writeString(v, style);
  if (typeof v === 'number') return String(v);
  if (v.num !== undefined) return v.num;
  const pretty = style === 'pretty';
  const inner = indent + '  ';
  const nl = pretty ? '\n' + inner : '';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[' + whitespace(style) + ']';
    const items = v.map((x) => nl + whitespace(style) + write(x, style, inner) + whitespace(style));
    return '[' + items.join(',') + (pretty ? '\n' + indent : '') + ']';
  }
  if (v.obj.length === 0) return '{' + whitespace(style) + '}';
  const members = v.obj.map(([k, x]) =>
    nl + whitespace(style) + writeString(k, style) + whitespace(style) + ':' +
    (pretty ? ' ' : whitespace(style)) + write(x, style, inner) + whitespace(style));
  return '{' + members.join(',') + (pretty ? '\n' + indent : '') + '}';
}

// Number spellings that reach every branch of Number::toString and of number parsing.
const NUMBERS = [
  '0', '-0', '-0.0', '0.0', '0e0', '-0e-5', '1', '-1', '7', '1.0', '1.50', '-2.500', '100', '1e2',
  '1E5', '1e+5', '1E+0', '1e-0', '0.5e1', '123.456e3', '4.35', '0.1', '0.2', '0.30000000000000004',
  '1e-5', '1e-6', '0.000001', '1.5e-6', '1e-7', '1E-7', '0.0000001', '1.5e-7', '123e-20',
  '1e20', '1e21', '1e+21', '999999999999999999999', '1.2345e21', '100000000000000000000',
  '123456789012345678901234', '12345678901234567890', '9007199254740991', '9007199254740992',
  '9007199254740993', '-9007199254740993', '18446744073709551615', '5e-324', '2.5e-324',
  '2.4e-324', '1e-400', '-1e-400', '4.9406564584124654e-324', '2.2250738585072014e-308',
  '1.7976931348623157e308', '1.7976931348623158e308', '1.7976931348623159e308', '1e308',
  '1e400', '-1e400', '123456.789', '-0.000123', '3.141592653589793', '2.718281828459045e0',
  '1.1e-10', '0.1e-6', '10e-8', '4294967295', '4294967296', '-4294967295', '0.00001234',
];

function randomNumberText() {
  switch (int(5)) {
    case 0:
    case 1:
      return pick(NUMBERS);
    case 2: { // random literal: digits, fraction, exponent
      let s = chance(0.3) ? '-' : '';
      s += chance(0.2) ? '0' : String(1 + int(9)) + randomDigits(int(20));
      if (chance(0.4)) s += '.' + randomDigits(1 + int(12));
      if (chance(0.4)) s += pick(['e', 'E']) + pick(['', '+', '-']) + String(int(330));
      return s;
    }
    case 3: { // a random double's own spelling
      const buf = new DataView(new ArrayBuffer(8));
      buf.setUint32(0, int(0x7ff00000));
      buf.setUint32(4, int(0x100000000));
      const f = buf.getFloat64(0) * (chance(0.5) ? 1 : -1);
      return String(f);
    }
    default: // a typical amount or quantity
      return String(int(chance(0.5) ? 100 : 10000000));
  }
}

function randomDigits(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += String(int(10));
  return s;
}

const KEYS = [
  'amount', 'currency', 'description', 'customer', 'metadata', 'items', 'note', 'a', 'b', 'z',
  '0', '1', '2', '10', '9', '4294967294', '4294967295', '4294967296', '01', '-0', '-1', '1.0',
  '1e3', ' 1', '00', '', 'user_id', 'account_id', 'stripe_roles', '<b>', 'a&b', 'é', '🙂',
  '\u2028', 'key with spaces', '__proto__', 'constructor', 'toString', '\u0000', 'new\nline',
];

const PIECES = [
  'hello', 'usd', 'eur', ' ', 'Ünïcødé', 'é', 'ñ', '日本語', '🙂', '𝄞', '👩‍💻', '\u2028', '\u2029',
  '<', '>', '&', '</script>', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u0001',
  '\u001f', '\u007f', '\u0080', '\u00a0', '\ufeff', '\ufffd', '\uffff', '\ud800', '\udbff',
  '\udc00', '\udfff', '\ud83d', '\ude00', '\ud83d\ude00',
];

function randomString() {
  let s = '';
  for (let n = int(5); n > 0; n--) s += pick(PIECES);
  return s;
}

function randomValue(depth) {
  const r = int(depth > 3 ? 6 : 9);
  switch (r) {
    case 0: return null;
    case 1: return chance(0.5);
    case 2: case 3: return num(randomNumberText());
    case 4: case 5: return randomString();
    case 6: {
      const a = [];
      for (let n = int(4); n > 0; n--) a.push(randomValue(depth + 1));
      return a;
    }
    default: return randomObject(depth + 1);
  }
}

function randomObject(depth) {
  const pairs = [];
  for (let n = int(depth === 0 ? 7 : 4); n > 0; n--) {
    const key = chance(0.7) ? pick(KEYS) : randomString();
    pairs.push([key, randomValue(depth)]);
    if (chance(0.08)) pairs.push([key, randomValue(depth)]); // duplicate key
  }
  return obj(...pairs);
}

function role(id, name, type) {
  return obj(['id', id], ['name', name], ['type', type]);
}

// Hand-written payloads: one or more for every rule the printer must follow.
const FIXED = [
  ['empty', '{}'],
  ['empty_spaced', ' { \n\t} '],
  ['simple', obj(['amount', num('1000')], ['currency', 'usd'])],
  ['integer_keys_order', obj(['b', 1], ['10', 2], ['2', 3], ['a', 4], ['0', 5], ['1', 6])],
  ['integer_keys_limit', obj(['4294967295', 1], ['4294967294', 2], ['4294967296', 3], ['0', 4])],
  ['integer_like_not_index', obj(['01', 1], ['-0', 2], ['1.0', 3], ['-1', 4], ['1e3', 5], [' 1', 6], ['00', 7], ['+1', 8], ['5', 9])],
  ['integer_keys_nested', obj(['z', obj(['3', 'c'], ['x', 'y'], ['1', 'a'])], ['7', [obj(['20', 1], ['3', 2])]])],
  ['integer_key_escaped', '{"b":1,"\\u0031":2,"\\u0030":3}'],
  ['astral', obj(['emoji', '🙂 👩‍💻 𝄞'], ['🙂', '𐀀'])],
  ['astral_escaped_pair', '{"face":"\\ud83d\\ude00","clef":"\\uD834\\uDD1E"}'],
  ['line_separators', obj(['text', 'a\u2028b\u2029c'], ['\u2028', '\u2029'])],
  ['line_separators_escaped', '{"text":"a\\u2028b\\u2029c"}'],
  ['html_chars', obj(['html', '<script>alert("x")</script> & <b>'], ['<>&', '&amp;'])],
  ['control_chars', obj(['c', '\b\f\n\r\t\u0000\u0001\u000b\u001f\u007f\u0080'])],
  ['control_chars_uppercase_escapes', '{"c":"\\u001F\\u000B\\u0000\\u007F\\u00E9"}'],
  ['needless_escapes', '{"s":"\\/path\\/to \\u0041\\u00e9\\u20AC"}'],
  ['lone_surrogates', '{"hi":"\\ud800","lo":"\\uDC00","rev":"\\udc00\\ud800","mix":"a\\ud83dz","pair_and_lone":"\\ud83d\\ude00\\ude00"}'],
  ['lone_surrogate_keys', '{"\\ud800":1,"\\udfff\\ud83d\\ude00":2}'],
  ['numbers_plain', '{"n":[0,1,-1,100,1.5,-2.25,0.1,0.30000000000000004,123456.789]}'],
  ['numbers_exponent_branches', '{"n":[1e21,1e+21,1.2345e21,999999999999999999999,1e20,1e-6,0.000001,1e-7,1.5e-7,123e-20,1.5e-6]}'],
  ['numbers_spellings', '{"n":[1E5,1e+5,1.0,1.50,0.5e1,123.456e3,1e-0,1E+0,0e0,10e-8]}'],
  ['numbers_beyond_2_53', '{"n":[9007199254740991,9007199254740992,9007199254740993,12345678901234567890,123456789012345678901234,18446744073709551615,-9007199254740993]}'],
  ['numbers_negative_zero', '{"a":-0,"b":-0.0,"c":-0e5,"d":-1e-400}'],
  ['numbers_overflow', '{"big":1e400,"neg":-1e400,"edge":1.7976931348623159e308,"max":1.7976931348623157e308,"max_round":1.7976931348623158e308}'],
  ['numbers_subnormal', '{"min":5e-324,"half":2.5e-324,"under":2.4e-324,"long":4.9406564584124654e-324,"norm":2.2250738585072014e-308}'],
  ['nested', obj(['a', obj(['b', obj(['c', [1, [2, [3, obj(['d', null])]]]])])])],
  ['arrays', obj(['empty', []], ['mixed', [1, 'two', true, false, null, [], obj()]])],
  ['booleans_null', obj(['t', true], ['f', false], ['n', null])],
  ['user_id_in_payload', obj(['user_id', 'usr_spoofed'], ['amount', 5])],
  ['account_id_in_payload', obj(['x', 1], ['account_id', 'acct_spoofed'], ['y', 2])],
  ['both_ids_in_payload_reversed', obj(['account_id', 'acct_x'], ['z', 0], ['user_id', 'usr_x'])],
  ['ids_in_payload_non_string', obj(['user_id', num('12')], ['account_id', obj(['nested', true])])],
  ['stripe_roles', obj(['stripe_roles', [role('admin', 'Administrator', 'builtIn')]])],
  ['stripe_roles_many', obj(['action', 'refund'], ['stripe_roles', [role('admin', 'Administrator', 'builtIn'), role('developer', 'Developer', 'builtIn'), role('rol_123', 'Support lead', 'custom')]])],
  ['stripe_roles_no_id', obj(['stripe_roles', [obj(['name', 'View only'], ['type', 'builtIn'])]])],
  ['stripe_roles_empty', obj(['stripe_roles', []])],
  ['duplicate_keys', '{"a":1,"b":2,"a":3}'],
  ['duplicate_keys_nested', '{"o":{"x":1,"y":2,"x":{"z":1}},"o":{"y":3,"x":4,"y":5}}'],
  ['duplicate_user_id', '{"user_id":"first","amount":1,"user_id":"second"}'],
  ['duplicate_integer_keys', '{"2":"a","1":"b","2":"c"}'],
  ['proto_key', '{"__proto__":{"polluted":true},"constructor":1,"toString":"x"}'],
  ['empty_key', '{"":1,"a":{"":""}}'],
  ['pretty_printed', { pretty: obj(['amount', num('2500')], ['currency', 'eur'], ['items', [obj(['sku', 'A-1'], ['qty', 2])]]) }],
  ['odd_whitespace', ' \t\r\n{ "a" :\n1 ,\t"b"\r: [ 1 , 2 ] , "c":{ } }\n\n'],
  ['long_string', obj(['s', 'x'.repeat(5000)])],
  ['many_keys', obj(...Array.from({ length: 60 }, (_, i) => [i % 3 === 0 ? String(59 - i) : 'k' + i, i]))],
  ['deep_nesting', '{"d":' + '['.repeat(200) + '1' + ']'.repeat(200) + '}'],
  ['unicode_noncharacters', obj(['s', '\ufeff\ufffe\uffff\ufdd0'])],
  ['replacement_char', obj(['s', '\ufffd'])],
];

function caseFor(name, payloadText, rng) {
  const secret = rng.secret;
  const timestamp = rng.timestamp;
  const userID = rng.user;
  const accountID = rng.account;
  let signed;
  let stringified = null;
  if (payloadText === null) {
    signed = JSON.stringify({ user_id: userID, account_id: accountID });
  } else {
    const payload = JSON.parse(payloadText);
    stringified = JSON.stringify(payload);
    signed = JSON.stringify({ ...payload, user_id: userID, account_id: accountID });
  }
  const signature = crypto.createHmac('sha256', secret).update(`${timestamp}.${signed}`, 'utf8').digest('hex');
  return {
    name,
    secret,
    timestamp,
    user_id: userID,
    account_id: accountID,
    payload_text: payloadText,
    signed,
    payload_stringified: stringified,
    signature,
    header: `t=${timestamp},v1=${signature}`,
  };
}

function identity() {
  return {
    secret: pick(SECRETS),
    timestamp: 1700000000 + int(100000000),
    user: chance(0.7) ? USERS[int(3)] : pick(USERS),
    account: chance(0.7) ? ACCOUNTS[int(3)] : pick(ACCOUNTS),
  };
}

const STYLES = ['compact', 'pretty', 'odd', 'escaped'];

function textOf(spec, style) {
  if (typeof spec === 'string') return spec;
  if (spec.pretty) return write(spec.pretty, 'pretty');
  return write(spec, style);
}

const cases = [];
cases.push(caseFor('default/protocol_doc_vector', null, {
  secret: 'absec_test_secret', timestamp: 1700000000,
  user: 'usr_K6yd2CbXLO9A5G', account: 'acct_1JSkf6FRwUQjTSJE',
}));
USERS.forEach((user, i) => {
  cases.push(caseFor(`default/user_${i}`, null, { ...identity(), user }));
});
ACCOUNTS.forEach((account, i) => {
  cases.push(caseFor(`default/account_${i}`, null, { ...identity(), account }));
});
SECRETS.forEach((secret, i) => {
  cases.push(caseFor(`default/secret_${i}`, null, { ...identity(), secret }));
});
for (const [name, spec] of FIXED) {
  cases.push(caseFor(`fixed/${name}`, textOf(spec, 'compact'), identity()));
  if (typeof spec !== 'string' && !spec.pretty) {
    for (const style of ['pretty', 'odd', 'escaped']) {
      cases.push(caseFor(`fixed/${name}/${style}`, textOf(spec, style), identity()));
    }
  }
}
for (let i = 0; cases.length < 420; i++) {
  const style = STYLES[i % STYLES.length];
  const name = `random/${String(i).padStart(3, '0')}/${style}`;
  cases.push(caseFor(name, write(randomObject(0), style), identity()));
}

// encoding/json reads this file in the Go tests and would turn an escaped lone surrogate
// into U+FFFD, so every string in it must be well-formed: payload_text escapes lone
// surrogates as text, and JSON.stringify's output always is well-formed.
for (const c of cases) {
  for (const [field, value] of Object.entries(c)) {
    if (typeof value === 'string' && !value.isWellFormed()) {
      throw new Error(`case ${c.name}: ${field} has a lone surrogate`);
    }
  }
}

process.stdout.write('[\n' + cases.map((c) => JSON.stringify(c)).join(',\n') + '\n]\n');
