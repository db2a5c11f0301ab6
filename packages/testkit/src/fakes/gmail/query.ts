/**
 * The Gmail search language (`q`) as the API evaluates it: per message (no thread-wide matching),
 * no alias expansion. Supports `from: to: cc: bcc: subject: after: before: newer_than: older_than:
 * in: label: is: has:attachment rfc822msgid:`, bare words, quoted phrases, `OR`, `{}` (any of),
 * `()` (grouping), and `-` (not), including `from:{a b}` and `to:(a b)`.
 */

/** What a query is matched against. */
export interface QueryTarget {
  headers: { name: string; value: string }[];
  labelIds: readonly string[];
  /** Label names of user labels, by id, for `label:`. */
  labelNames: ReadonlyMap<string, string>;
  internalDate: number;
  text: string;
  hasAttachment: boolean;
  now: number;
}

/** A parsed query: a predicate over messages. */
export type QueryNode =
  | { kind: "and"; items: QueryNode[] }
  | { kind: "or"; items: QueryNode[] }
  | { kind: "not"; item: QueryNode }
  | { kind: "term"; operator: string | undefined; value: string };

type Token = { type: "(" | ")" | "{" | "}" | "-" } | { type: "word"; text: string; quoted: boolean };

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < query.length) {
    const char = query[index]!;
    if (/\s/.test(char)) {
      index += 1;
    } else if (char === "(" || char === ")" || char === "{" || char === "}") {
      tokens.push({ type: char });
      index += 1;
    } else if (char === "-" && (tokens.length === 0 || index === 0 || /[\s({]/.test(query[index - 1]!))) {
      tokens.push({ type: "-" });
      index += 1;
    } else if (char === '"') {
      const end = query.indexOf('"', index + 1);
      const stop = end === -1 ? query.length : end;
      tokens.push({ type: "word", text: query.slice(index + 1, stop), quoted: true });
      index = stop + 1;
    } else {
      let end = index;
      while (end < query.length && !/[\s(){}"]/.test(query[end]!)) end += 1;
      if (end < query.length && query[end] === '"' && query[end - 1] === ":") {
        // operator:"quoted value"
        const close = query.indexOf('"', end + 1);
        const stop = close === -1 ? query.length : close;
        tokens.push({
          type: "word",
          text: query.slice(index, end) + query.slice(end + 1, stop),
          quoted: true,
        });
        index = stop + 1;
        continue;
      }
      tokens.push({ type: "word", text: query.slice(index, end), quoted: false });
      index = end;
    }
  }
  return tokens;
}

/** Parses a `q` string. Never throws: unbalanced brackets close at the end, as Gmail tolerates. */
export function parseQuery(query: string): QueryNode {
  const tokens = tokenize(query);
  let position = 0;

  const peek = () => tokens[position];

  function parseOr(stop: ")" | "}" | undefined): QueryNode {
    const alternatives: QueryNode[] = [parseAnd(stop)];
    for (;;) {
      const token = peek();
      if (token?.type === "word" && !token.quoted && token.text === "OR") {
        position += 1;
        alternatives.push(parseAnd(stop));
      } else break;
    }
    return alternatives.length === 1 ? alternatives[0]! : { kind: "or", items: alternatives };
  }

  function parseAnd(stop: ")" | "}" | undefined): QueryNode {
    const items: QueryNode[] = [];
    for (;;) {
      const token = peek();
      if (token === undefined || token.type === stop) break;
      if (token.type === ")" || token.type === "}") {
        position += 1; // stray closer
        continue;
      }
      if (token.type === "word" && !token.quoted && token.text === "OR") break;
      items.push(parseUnary());
    }
    return items.length === 1 ? items[0]! : { kind: "and", items };
  }

  function parseGroup(operator: string | undefined): QueryNode {
    const opener = tokens[position]!;
    position += 1;
    if (opener.type === "{") {
      const items: QueryNode[] = [];
      while (peek() !== undefined && peek()!.type !== "}") {
        const token = peek()!;
        if (token.type === "word" && !token.quoted && token.text === "OR") {
          position += 1;
          continue;
        }
        items.push(operator === undefined ? parseUnary() : applyOperator(operator, parseUnary()));
      }
      position += 1;
      return { kind: "or", items };
    }
    const inner = parseOr(")");
    position += 1;
    return operator === undefined ? inner : applyOperator(operator, inner);
  }

  function parseUnary(): QueryNode {
    const token = peek()!;
    if (token.type === "-") {
      position += 1;
      if (peek() === undefined) return { kind: "and", items: [] };
      return { kind: "not", item: parseUnary() };
    }
    if (token.type === "(" || token.type === "{") return parseGroup(undefined);
    if (token.type !== "word") {
      position += 1;
      return { kind: "and", items: [] };
    }
    position += 1;
    const colon = token.text.indexOf(":");
    if (colon > 0 && /^[a-z_0-9]+$/i.test(token.text.slice(0, colon))) {
      const operator = token.text.slice(0, colon).toLowerCase();
      const value = token.text.slice(colon + 1);
      const next = peek();
      if (value === "" && next && (next.type === "(" || next.type === "{")) return parseGroup(operator);
      return { kind: "term", operator, value };
    }
    return { kind: "term", operator: undefined, value: token.text };
  }

  function applyOperator(operator: string, node: QueryNode): QueryNode {
    switch (node.kind) {
      case "term":
        return node.operator === undefined ? { kind: "term", operator, value: node.value } : node;
      case "not":
        return { kind: "not", item: applyOperator(operator, node.item) };
      default:
        return { kind: node.kind, items: node.items.map((item) => applyOperator(operator, item)) };
    }
  }

  const root = parseOr(undefined);
  return root;
}

const pstOffsetMs = 8 * 3600_000;

/** Epoch ms of an `after:`/`before:` value: epoch seconds, or a date at midnight PST. */
export function parseQueryDate(value: string): number | undefined {
  if (/^\d{9,}$/.test(value)) return Number(value) * 1000;
  const match = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$/.exec(value);
  if (!match) return undefined;
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) + pstOffsetMs;
}

function relativeMs(value: string): number | undefined {
  const match = /^(\d+)([dmy])$/i.exec(value);
  if (!match) return undefined;
  const unit = match[2]!.toLowerCase();
  const days = unit === "d" ? 1 : unit === "m" ? 30 : 365;
  return Number(match[1]) * days * 86_400_000;
}

const headerCache = new WeakMap<object, Map<string, string>>();
const addressCache = new WeakMap<object, Map<string, Set<string>>>();

function header(target: QueryTarget, name: string): string {
  // Cached per headers array: a search evaluates many terms against the same message.
  let cache = headerCache.get(target.headers);
  if (!cache) headerCache.set(target.headers, (cache = new Map()));
  let text = cache.get(name);
  if (text === undefined) {
    text = target.headers
      .filter((entry) => entry.name.toLowerCase() === name)
      .map((entry) => entry.value)
      .join(", ")
      .toLowerCase();
    cache.set(name, text);
  }
  return text;
}

function addressesOf(target: QueryTarget, name: string): Set<string> {
  let cache = addressCache.get(target.headers);
  if (!cache) addressCache.set(target.headers, (cache = new Map()));
  let addresses = cache.get(name);
  if (addresses === undefined) {
    addresses = new Set(
      [...header(target, name).matchAll(/[^\s<>(),;:"@]+@[^\s<>(),;:"@]+/g)].map((match) => match[0]),
    );
    cache.set(name, addresses);
  }
  return addresses;
}

function addressMatches(target: QueryTarget, name: string, value: string): boolean {
  // A full address matches that address only (not a longer one containing it); anything else
  // matches as a word fragment of the header, like a name or a domain.
  if (value.includes("@")) return addressesOf(target, name).has(value);
  return header(target, name).includes(value);
}

const systemLabels: Record<string, string> = {
  inbox: "INBOX",
  sent: "SENT",
  trash: "TRASH",
  spam: "SPAM",
  drafts: "DRAFT",
  draft: "DRAFT",
  starred: "STARRED",
  important: "IMPORTANT",
  unread: "UNREAD",
  chats: "CHAT",
};

function hasLabel(target: QueryTarget, value: string): boolean {
  const wanted = value.toLowerCase();
  const system = systemLabels[wanted];
  if (system !== undefined && target.labelIds.includes(system)) return true;
  return target.labelIds.some(
    (id) =>
      id.toLowerCase() === wanted || target.labelNames.get(id)?.toLowerCase().replace(/\s+/g, "-") === wanted,
  );
}

function matchTerm(target: QueryTarget, operator: string | undefined, rawValue: string): boolean {
  const value = rawValue.toLowerCase();
  switch (operator) {
    case undefined:
      return `${header(target, "subject")}\n${header(target, "from")}\n${header(target, "to")}\n${target.text.toLowerCase()}`.includes(
        value,
      );
    case "from":
    case "to":
    case "cc":
    case "bcc":
      return addressMatches(target, operator, value);
    case "subject":
      return header(target, "subject").includes(value);
    case "after": {
      const at = parseQueryDate(value);
      return at !== undefined && target.internalDate >= at;
    }
    case "before": {
      const at = parseQueryDate(value);
      return at !== undefined && target.internalDate < at;
    }
    case "newer_than": {
      const span = relativeMs(value);
      return span !== undefined && target.internalDate >= target.now - span;
    }
    case "older_than": {
      const span = relativeMs(value);
      return span !== undefined && target.internalDate < target.now - span;
    }
    case "in":
      return value === "anywhere" || hasLabel(target, value);
    case "label":
      return hasLabel(target, value);
    case "is":
      if (value === "read") return !target.labelIds.includes("UNREAD");
      return hasLabel(target, value);
    case "has":
      return value === "attachment" ? target.hasAttachment : false;
    case "rfc822msgid": {
      const wanted = value.replace(/^<|>$/g, "");
      return header(target, "message-id").replace(/^<|>$/g, "") === wanted;
    }
    default:
      return `${operator}:${value}`.length > 0 && target.text.toLowerCase().includes(`${operator}:${value}`);
  }
}

const addressOperators = new Set(["from", "to", "cc", "bcc"]);

/**
 * Compiles a parsed query into a predicate. Same result as {@link matchesQuery}; an OR of many
 * full-address terms (what a participant search sends) becomes set lookups, so searching a large
 * mailbox for hundreds of addresses stays fast.
 */
export function compileQuery(node: QueryNode): (target: QueryTarget) => boolean {
  switch (node.kind) {
    case "and": {
      const items = node.items.map(compileQuery);
      return (target) => items.every((item) => item(target));
    }
    case "not": {
      const item = compileQuery(node.item);
      return (target) => !item(target);
    }
    case "term":
      return (target) => matchTerm(target, node.operator, node.value);
    case "or": {
      const wanted = new Map<string, Set<string>>();
      const rest: QueryNode[] = [];
      for (const item of node.items) {
        if (
          item.kind === "term" &&
          item.operator !== undefined &&
          addressOperators.has(item.operator) &&
          item.value.includes("@")
        ) {
          const values = wanted.get(item.operator) ?? new Set<string>();
          values.add(item.value.toLowerCase());
          wanted.set(item.operator, values);
        } else {
          rest.push(item);
        }
      }
      const others = rest.map(compileQuery);
      return (target) => {
        for (const [operator, values] of wanted) {
          for (const address of addressesOf(target, operator)) if (values.has(address)) return true;
        }
        return others.some((item) => item(target));
      };
    }
  }
}

/** True when the message matches the parsed query. */
export function matchesQuery(node: QueryNode, target: QueryTarget): boolean {
  switch (node.kind) {
    case "and":
      return node.items.every((item) => matchesQuery(item, target));
    case "or":
      return node.items.some((item) => matchesQuery(item, target));
    case "not":
      return !matchesQuery(node.item, target);
    case "term":
      return matchTerm(target, node.operator, node.value);
  }
}

/** True when the query explicitly reaches into spam or trash (which listings skip by default). */
export function queryReachesSpamOrTrash(node: QueryNode): boolean {
  switch (node.kind) {
    case "and":
    case "or":
      return node.items.some(queryReachesSpamOrTrash);
    case "not":
      return false;
    case "term":
      return (
        (node.operator === "in" || node.operator === "label") &&
        ["spam", "trash", "anywhere"].includes(node.value.toLowerCase())
      );
  }
}
