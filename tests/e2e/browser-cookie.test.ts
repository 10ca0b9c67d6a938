import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Cookie, Page } from 'playwright-core';
import { launchChromium } from '../../harness/browser';
import { eventually } from '../../harness/eventually';
import type { LogLine } from '../../harness/log-capture';
import { REFRESH_COOKIE } from '../../src/auth/refresh-cookie';
import { startApp, type AppProcess } from '../helpers/built-app';

/**
 * The refresh cookie in a real browser (headless Chromium; no request interception, which would
 * answer preflights itself and hide what is tested). A single-page app on
 * `http://localhost:<A>`, the API's FRONTEND_URL, signs in with cookie delivery; a page on
 * `http://localhost:<B>`, another origin of the same site (as a sibling subdomain would be in
 * production), tries to log the user out and to rotate the session. SameSite=Strict does not
 * stop it: the API's origin check must.
 */

/** A one-page static site on 127.0.0.1; its pages run what the test evaluates in them. */
async function startStaticSite(title: string): Promise<{ port: number; close(): Promise<void> }> {
  const html = `<!doctype html><html><head><title>${title}</title></head><body>${title}</body></html>`;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface PageReply {
  status: number;
  text: string;
}

/** Runs `fetch(url, init)` in `page` with the page's cookies; a blocked reply becomes `error`. */
function fetchIn(
  page: Page,
  url: string,
  init: {
    method?: string;
    body?: string;
    headers?: Record<string, string>;
    mode?: 'cors' | 'no-cors';
  },
): Promise<PageReply | { error: string }> {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const res = await fetch(url, { ...init, credentials: 'include' });
        return { status: res.status, text: await res.text() };
      } catch (error) {
        return { error: String(error) };
      }
    },
    { url, init },
  );
}

function replied(reply: PageReply | { error: string }): PageReply {
  if ('error' in reply) throw new Error(`the page's fetch failed: ${reply.error}`);
  return reply;
}

describe('the refresh cookie in a real browser', () => {
  let browser: Browser;
  let context: BrowserContext;
  let app: AppProcess;
  let frontendSite: Awaited<ReturnType<typeof startStaticSite>>;
  let otherSite: Awaited<ReturnType<typeof startStaticSite>>;
  let frontend: Page;
  let other: Page;
  let api: string;

  beforeAll(async () => {
    // First: without a browser, fail at once with how to install one.
    browser = await launchChromium();
    [frontendSite, otherSite] = await Promise.all([
      startStaticSite('frontend'),
      startStaticSite('another origin of the same site'),
    ]);
    app = await startApp({ env: { FRONTEND_URL: `http://localhost:${frontendSite.port}` } });
    api = `http://localhost:${app.port}/api/auth`;
    context = await browser.newContext();
    frontend = await context.newPage();
    await frontend.goto(`http://localhost:${frontendSite.port}/`);
    other = await context.newPage();
    await other.goto(`http://localhost:${otherSite.port}/`);
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await app?.stop();
    await Promise.all([frontendSite?.close(), otherSite?.close()]);
  });

  /** The refresh cookie in the browser's store (which sees httpOnly cookies; pages do not). */
  const storedCookie = async (): Promise<Cookie | undefined> =>
    (await context.cookies(`http://localhost:${app.port}/`)).find(
      (cookie) => cookie.name === REFRESH_COOKIE,
    );

  /** What the page's scripts can see of cookies. */
  const documentCookie = (page: Page) => page.evaluate<string>('document.cookie');

  /** Asserts the page read `reply` and `document.cookie` without the refresh token anywhere. */
  async function expectTokenOutOfReach(page: Page, reply: PageReply): Promise<Cookie> {
    const cookie = await storedCookie();
    expect(cookie?.value).toMatch(/^eyJ/);
    const token = cookie?.value ?? 'missing';
    expect(JSON.parse(reply.text)).not.toHaveProperty('refreshToken');
    expect(reply.text).not.toContain(token);
    const visible = await documentCookie(page);
    expect(visible).not.toContain(token);
    expect(visible).not.toContain(REFRESH_COOKIE);
    return cookie as Cookie;
  }

  const posts = (lines: LogLine[]) =>
    lines.filter((line) => line.msg === 'request' && line.method === 'POST');

  let afterLogin: Cookie;

  it('signs in with cookie delivery: the refresh token is only in an httpOnly __Host- cookie', async () => {
    const reply = replied(
      await fetchIn(frontend, `${api}/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          email: `browser-${randomUUID()}@example.com`,
          password: 'correct horse battery staple',
          tokenDelivery: 'cookie',
        }),
      }),
    );
    expect(reply.status).toBe(201);
    expect(JSON.parse(reply.text).accessToken).toMatch(/^eyJ/);
    afterLogin = await expectTokenOutOfReach(frontend, reply);
    expect(afterLogin).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
      path: '/',
      domain: 'localhost',
    });
  });

  let afterRefresh: Cookie;

  it('refreshes with the cookie alone; the rotated token stays out of reach of scripts', async () => {
    const reply = replied(await fetchIn(frontend, `${api}/refresh`, { method: 'POST' }));
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text).accessToken).toMatch(/^eyJ/);
    afterRefresh = await expectTokenOutOfReach(frontend, reply);
    expect(afterRefresh.value).not.toBe(afterLogin.value);
  });

  it('refuses every attempt from another origin of the same site: no logout, no rotation', async () => {
    // The log is written asynchronously: count only lines after the frontend's own requests.
    await eventually(() => posts(app.logs()).length, {
      describe: "the frontend's register and refresh in the API log",
      until: (count) => count >= 2,
    });
    const from = app.logs().length;
    const attempts = ['logout', 'refresh'].flatMap((endpoint) => [
      // Simple requests: no preflight, and the browser sends the SameSite=Strict cookie.
      { endpoint, init: { method: 'POST' } },
      { endpoint, init: { method: 'POST', mode: 'no-cors' as const } },
      // A JSON body: in cors mode it needs a preflight, which the API refuses to this origin;
      // in no-cors mode the browser drops the Content-Type, and the API refuses the text body.
      {
        endpoint,
        init: { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' },
      },
      {
        endpoint,
        init: {
          method: 'POST',
          mode: 'no-cors' as const,
          headers: { 'Content-Type': 'application/json' },
          body: '{}',
        },
      },
    ]);
    for (const { endpoint, init } of attempts) {
      const reply = await fetchIn(other, `${api}/${endpoint}`, init);
      // Whatever the API answered, this page may not read it.
      if (!('error' in reply)) expect(reply.status).toBe(0); // an opaque no-cors reply
    }

    const refused = (endpoint: string) => (line: LogLine) =>
      line.path === `/api/auth/${endpoint}` &&
      line.status === 403 &&
      line.code === 'CSRF_ORIGIN_REFUSED';
    // The four bodiless POSTs reached the API and were refused by the origin check.
    const attackLines = await eventually(() => posts(app.logs().slice(from)), {
      describe: 'the refused logout and refresh attempts in the API log',
      until: (lines) =>
        lines.filter(refused('logout')).length >= 2 && lines.filter(refused('refresh')).length >= 2,
    });
    // None of the attempts that reached the API succeeded.
    expect(attackLines.filter((line) => Number(line.status) < 400)).toEqual([]);

    // Not rotated: the browser still holds the token it had; not logged out: it still refreshes.
    expect((await storedCookie())?.value).toBe(afterRefresh.value);
    const reply = replied(await fetchIn(frontend, `${api}/refresh`, { method: 'POST' }));
    expect(reply.status).toBe(200);
    afterRefresh = await expectTokenOutOfReach(frontend, reply);
  });

  it('logs out with the cookie: the session ends and the browser drops the cookie', async () => {
    const reply = replied(await fetchIn(frontend, `${api}/logout`, { method: 'POST' }));
    expect(reply.status).toBe(204);
    expect(await storedCookie()).toBeUndefined();
    const after = replied(await fetchIn(frontend, `${api}/refresh`, { method: 'POST' }));
    expect(after.status).toBe(400);
    expect(JSON.parse(after.text).code).toBe('VALIDATION_FAILED');
  });
});
