/**
 * Every event type the domain records, with the schema of its `data`. The
 * projections parse what they fold with these, so an event whose data does
 * not fit (a hand-made append) is refused instead of silently mis-projected.
 */
import type { z } from 'zod';
import { CodedError } from './errors.ts';
import { contentEventSchemas, type ContentEvent } from './content/contentEvents.ts';
import { deliveryEventSchemas, type DeliveryEvent } from './delivery/deliveryEvents.ts';
import { holdEventSchemas, type HoldEvent } from './holds/holdEvents.ts';
import { listingEventSchemas, type ListingEvent } from './catalog/listingEvents.ts';
import { upgradeEventSchemas, type UpgradeEvent } from './governance/upgradeEvents.ts';
import { ledgerEventSchemas, type LedgerEvent } from './ledger/ledgerEvents.ts';
import { manifestEventSchemas, type ManifestEvent } from './manifests/manifestEvents.ts';
import { orderEventSchemas, type OrderEvent } from './orders/orderEvents.ts';
import { payoutEventSchemas, type PayoutEvent } from './payouts/payoutEvents.ts';
import { previewEventSchemas, type PreviewEvent } from './previews/previewEvents.ts';
import { reconciliationEventSchemas, type ReconciliationEvent } from './reconciliation/reconciliationEvents.ts';

export type DomainEvent =
  | ManifestEvent
  | UpgradeEvent
  | ListingEvent
  | OrderEvent
  | DeliveryEvent
  | LedgerEvent
  | PayoutEvent
  | HoldEvent
  | ReconciliationEvent
  | PreviewEvent
  | ContentEvent;
export type DomainEventType = DomainEvent['type'];

const SCHEMAS: Record<DomainEventType, z.ZodType> = {
  ...manifestEventSchemas,
  ...upgradeEventSchemas,
  ...listingEventSchemas,
  ...orderEventSchemas,
  ...deliveryEventSchemas,
  ...ledgerEventSchemas,
  ...payoutEventSchemas,
  ...holdEventSchemas,
  ...reconciliationEventSchemas,
  ...previewEventSchemas,
  ...contentEventSchemas,
};

export const DOMAIN_EVENT_TYPES = Object.keys(SCHEMAS) as DomainEventType[];

export function isDomainEventType(type: string): type is DomainEventType {
  return Object.hasOwn(SCHEMAS, type);
}

/** The typed event, or INVALID_DOMAIN_EVENT naming the first field that does not fit. */
export function parseDomainEvent(type: DomainEventType, data: unknown): DomainEvent {
  const parsed = SCHEMAS[type].safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue ? issue.path.join('.') : '';
    throw new CodedError(
      'INVALID_DOMAIN_EVENT',
      `${type} data does not fit its schema at ${path || 'data'}: ${issue?.message ?? 'invalid'}`,
      { type, path },
    );
  }
  return { type, data: parsed.data } as DomainEvent;
}

/** The events of one aggregate from stored records, in order. */
export function eventsOf<Event extends DomainEvent>(
  records: readonly { type: string; data: unknown }[],
  types: readonly Event['type'][],
): Event[] {
  return records.map((record) => {
    if (!(types as readonly string[]).includes(record.type) || !isDomainEventType(record.type)) {
      throw new CodedError('INVALID_DOMAIN_EVENT', `unexpected event type ${record.type} in this stream`, {
        type: record.type,
      });
    }
    return parseDomainEvent(record.type, record.data) as Event;
  });
}
