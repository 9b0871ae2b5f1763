// Kubernetes LabelSelector semantics (metav1.LabelSelector), for AccessPolicy.spec.podSelector.

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type Labels = Readonly<Record<string, string>>;

export type SelectorParse = { ok: true; matches: (labels: Labels) => boolean } | { ok: false; error: string };

/**
 * Checks a selector once and returns a matcher. The empty selector (or an absent one) selects
 * every pod, as in NetworkPolicy. Whatever is not a well-formed selector is reported rather
 * than guessed at: the caller decides what a broken selector means.
 */
export function parseLabelSelector(input: unknown): SelectorParse {
  if (input === undefined || input === null) return { ok: true, matches: () => true };
  if (typeof input !== 'object' || Array.isArray(input)) return { ok: false, error: 'podSelector is not an object' };
  const { matchLabels, matchExpressions } = input as { matchLabels?: unknown; matchExpressions?: unknown };
  const checks: ((labels: Labels) => boolean)[] = [];

  if (matchLabels !== undefined && matchLabels !== null) {
    if (typeof matchLabels !== 'object' || Array.isArray(matchLabels)) return { ok: false, error: 'matchLabels is not a map' };
    for (const [key, value] of Object.entries(matchLabels)) {
      if (typeof value !== 'string') return { ok: false, error: `matchLabels["${key}"] is not a string` };
      checks.push((labels) => labels[key] === value);
    }
  }
  if (matchExpressions !== undefined && matchExpressions !== null) {
    if (!Array.isArray(matchExpressions)) return { ok: false, error: 'matchExpressions is not a list' };
    for (const [index, raw] of matchExpressions.entries()) {
      const parsed = requirement(raw);
      if (typeof parsed === 'string') return { ok: false, error: `matchExpressions[${index}]: ${parsed}` };
      checks.push(parsed);
    }
  }
  return { ok: true, matches: (labels) => checks.every((check) => check(labels)) };
}

function requirement(raw: unknown): ((labels: Labels) => boolean) | string {
  if (!raw || typeof raw !== 'object') return 'not an object';
  const { key, operator, values } = raw as { key?: unknown; operator?: unknown; values?: unknown };
  if (typeof key !== 'string' || key === '') return 'key is missing';
  const list = values === undefined || values === null ? [] : values;
  if (!Array.isArray(list) || !list.every((v): v is string => typeof v === 'string')) return 'values is not a list of strings';
  const set = new Set(list);
  const has = (labels: Labels): boolean => Object.prototype.hasOwnProperty.call(labels, key);
  switch (operator) {
    case 'In':
      if (set.size === 0) return 'operator In needs values';
      return (labels) => has(labels) && set.has(labels[key]!);
    case 'NotIn':
      if (set.size === 0) return 'operator NotIn needs values';
      return (labels) => !has(labels) || !set.has(labels[key]!);
    case 'Exists':
      if (set.size !== 0) return 'operator Exists takes no values';
      return has;
    case 'DoesNotExist':
      if (set.size !== 0) return 'operator DoesNotExist takes no values';
      return (labels) => !has(labels);
    default:
      return `unknown operator ${JSON.stringify(operator)}`;
  }
}
