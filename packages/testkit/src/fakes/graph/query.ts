/**
 * The parts of Graph's query languages the fake understands: KQL `$search` over participants and
 * received dates, and a small `$filter` subset.
 */
import type { GraphAddress, StoredMessage } from "./model.js";

function addressesOf(message: StoredMessage, field: string): GraphAddress[] {
  switch (field) {
    case "from":
      return [message.from];
    case "to":
      return message.to;
    case "cc":
      return message.cc;
    case "bcc":
      return message.bcc;
    case "recipients":
      return [...message.to, ...message.cc, ...message.bcc];
    case "participants":
      return [message.from, ...message.to, ...message.cc, ...message.bcc];
    default:
      return [];
  }
}

function splitTopLevel(query: string, separator: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  const tokens = query.split(/(\s+|\(|\))/).filter((t) => t !== "");
  for (const token of tokens) {
    if (token === "(") depth += 1;
    if (token === ")") depth -= 1;
    if (depth === 0 && separator.test(token.trim()) && token.trim() !== "") {
      parts.push(current.trim());
      current = "";
      continue;
    }
    current += token;
  }
  if (current.trim() !== "") parts.push(current.trim());
  return parts;
}

function stripParens(term: string): string {
  let value = term.trim();
  while (value.startsWith("(") && value.endsWith(")")) value = value.slice(1, -1).trim();
  return value;
}

function matchesTerm(message: StoredMessage, term: string): boolean {
  const dateMatch = /^received\s*(>=|<=|>|<|=|:)\s*(\S+)$/i.exec(term);
  if (dateMatch) {
    const when = new Date(dateMatch[2] ?? "").getTime();
    const received = message.receivedDateTime.getTime();
    switch (dateMatch[1]) {
      case ">=":
        return received >= when;
      case ">":
        return received > when;
      case "<=":
        return received <= when;
      case "<":
        return received < when;
      default:
        return message.receivedDateTime.toISOString().slice(0, 10) === (dateMatch[2] ?? "");
    }
  }
  const propertyMatch = /^(from|to|cc|bcc|recipients|participants|subject):(.+)$/i.exec(term);
  if (propertyMatch) {
    const field = (propertyMatch[1] ?? "").toLowerCase();
    const value = (propertyMatch[2] ?? "").replace(/^"|"$/g, "").toLowerCase();
    if (field === "subject") return message.subject.toLowerCase().includes(value);
    return addressesOf(message, field).some(
      (a) => a.address.toLowerCase() === value || (a.name ?? "").toLowerCase().includes(value),
    );
  }
  const word = term.replace(/^"|"$/g, "").toLowerCase();
  return message.subject.toLowerCase().includes(word) || (message.text ?? "").toLowerCase().includes(word);
}

function matchesExpression(message: StoredMessage, expression: string): boolean {
  const andParts = splitTopLevel(stripParens(expression), /^AND$/);
  return andParts.every((part) => {
    const orParts = splitTopLevel(stripParens(part), /^OR$/);
    if (orParts.length > 1) return orParts.some((p) => matchesExpression(message, p));
    return matchesTerm(message, stripParens(part));
  });
}

/** True when `message` matches the KQL `$search` value (surrounding double quotes included or not). */
export function matchesSearch(message: StoredMessage, search: string): boolean {
  const query = search.trim().replace(/^"([\s\S]*)"$/, "$1");
  return matchesExpression(message, query);
}

/** True when `message` matches the `$filter` value; supports `eq/ge/gt/le/lt` joined by `and`. Throws on anything else. */
export function matchesFilter(message: StoredMessage, filter: string): boolean {
  const clauses = filter.split(/\s+and\s+/i);
  return clauses.every((clause) => {
    const match = /^\(?\s*([\w/]+)\s+(eq|ge|gt|le|lt)\s+(.+?)\s*\)?$/i.exec(clause.trim());
    if (!match) throw new Error(`Unsupported $filter clause: ${clause}`);
    const [, property = "", operator = "", rawValue = ""] = match;
    const value = rawValue.replace(/^'|'$/g, "").replace(/''/g, "'");
    const compare = (actual: number, expected: number): boolean => {
      switch (operator.toLowerCase()) {
        case "eq":
          return actual === expected;
        case "ge":
          return actual >= expected;
        case "gt":
          return actual > expected;
        case "le":
          return actual <= expected;
        default:
          return actual < expected;
      }
    };
    switch (property) {
      case "receivedDateTime":
        return compare(message.receivedDateTime.getTime(), new Date(value).getTime());
      case "sentDateTime":
        return compare(message.sentDateTime.getTime(), new Date(value).getTime());
      case "internetMessageId":
        return message.internetMessageId === value;
      case "from/emailAddress/address":
        return message.from.address.toLowerCase() === value.toLowerCase();
      case "conversationId":
        return message.conversationId === value;
      default:
        throw new Error(`Unsupported $filter property: ${property}`);
    }
  });
}
