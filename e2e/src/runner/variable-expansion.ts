// Kubernetes' $(VAR) expansion (k8s.io/kubernetes/third_party/forked/golang/expansion):
// `$$` escapes a `$`, an undefined reference is left as written, anything else is literal.

export function expandVariables(input: string, env: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = Object.hasOwn(env, name) ? env[name] : undefined;
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}
