// Parses LogQL expressions with Grafana's LogQL grammar (@grafana/lezer-logql,
// the parser of Grafana's Loki query editor). Reads a JSON array of strings
// on stdin; prints a JSON array of the same length: null for an expression
// that parses whole, else where the parser stopped. Used by
// tests/logql_syntax.rs; `npm ci --prefix tests/logql` installs the grammar.
import { parser } from '@grafana/lezer-logql';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const exprs = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const verdicts = exprs.map((expr) => {
  const tree = parser.parse(expr);
  let at = null;
  tree.iterate({
    enter: (node) => {
      if (at === null && node.type.isError) at = node.from;
    },
  });
  if (at === null) return null;
  return `syntax error at offset ${at}: ${JSON.stringify(expr.slice(at, at + 20))}`;
});
process.stdout.write(JSON.stringify(verdicts) + '\n');
