// Bearer-token check for the service. Both sides are hashed before the constant-time comparison, so
// neither the key's content nor its length leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import { invalidArgument } from '../core/errors.js';

export type ApiKeyCheck = (authorization: string | undefined) => boolean;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function apiKeyCheck(apiKey: string): ApiKeyCheck {
  if (typeof apiKey !== 'string' || apiKey.length === 0 || /\s/.test(apiKey)) throw invalidArgument('apiKey', apiKey === '' ? '' : '<hidden>', 'a non-empty string without spaces');
  const expected = digest(apiKey);
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    // Compare something even without a token, so a missing header costs what a wrong one does.
    return timingSafeEqual(digest(match?.[1] ?? ''), expected) && match !== null;
  };
}
