/**
 * JSON logs with pino: one line per request (request id, trace id, route,
 * status, duration, actor, error code), stacks of internal errors. Headers
 * and bodies are never logged; the redaction below is a second line of
 * defence should a field with a secret ever be passed to the logger.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
  'password',
  '*.password',
  'privateKey',
  '*.privateKey',
  'headers["payment-signature"]',
  '*.headers["payment-signature"]',
  'headers["stripe-signature"]',
  '*.headers["stripe-signature"]',
  // The Stripe settings (infra/wiring/config.ts, StripeConfig), should an object holding them ever be logged.
  'secretKey',
  '*.secretKey',
  'webhookSecret',
  '*.webhookSecret',
  'stripe.secretKey',
  'stripe.webhookSecret',
  '*.stripe.secretKey',
  '*.stripe.webhookSecret',
  '*.*.stripe.secretKey',
  '*.*.stripe.webhookSecret',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'chainbook' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
