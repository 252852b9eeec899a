/**
 * The auditor page and its checker (docs/FORMAT.md section 15), public like
 * /kernel/security/status: static files that hold no data. The page checks
 * what the auditor gives it in the browser: a bundle dropped on it, or the
 * bundle of GET /audit/bundle fetched with the auditor's own token.
 */
import { z } from 'zod';
import { AUDITOR_HEADERS, auditorPage, checkerSource } from '../../../adapters/files/auditorPage.ts';
import { defineRoute, type RouteSpec } from '../route.ts';

export const auditorRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/auditor',
    operationId: 'getAuditorPage',
    summary:
      'The auditor page: one HTML file that checks an audit bundle (dropped on it, or fetched from GET /audit/bundle with a token) in the browser, with the checker inlined; loads nothing else',
    tag: 'archive',
    routeClass: 'query',
    roles: 'public',
    response: z.string(),
    responseContentType: 'text/html; charset=utf-8',
    errors: [429],
    async handle() {
      const page = auditorPage();
      return {
        text: { contentType: 'text/html; charset=utf-8', content: page.html },
        // The policy as a header too: frame-ancestors holds only there, not in the page's meta element.
        headers: { ...AUDITOR_HEADERS, 'Content-Security-Policy': `${page.policy}; frame-ancestors 'none'` },
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/auditor/checker.mjs',
    operationId: 'getAuditorChecker',
    summary:
      "The independent checker the auditor page runs, as an ES module with no dependency, for Node 20 or later: `import { checkBundle } from './checker.mjs'`",
    tag: 'archive',
    routeClass: 'query',
    roles: 'public',
    response: z.string(),
    responseContentType: 'text/javascript; charset=utf-8',
    errors: [429],
    async handle() {
      return {
        text: { contentType: 'text/javascript; charset=utf-8', content: checkerSource() },
        headers: { ...AUDITOR_HEADERS, 'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'" },
      };
    },
  }),
];
