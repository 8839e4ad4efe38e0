// Two people chat through the reference web client (static/) in headless Chromium.
//
// Started by crates/server/tests/browser.rs with CHATTY_BIN (the server binary), CHATTY_STATIC
// (the client's directory) and CHROMIUM (the browser). It starts the server in dev mode on a
// free port, reads the activation link and the reset token from the server's log as an
// operator would, and stops everything it started, whatever happens.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const STEP_TIMEOUT = 15_000;

function startServer() {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.SECRET_KEY;
  Object.assign(env, {
    CHATTY_SERVER_LISTEN_ADDRESS: "127.0.0.1:0",
    CHATTY_STATIC_DIR: process.env.CHATTY_STATIC,
    CHATTY_ADMINS: "alice",
    CHATTY_CHATS: "Main",
    CHATTY_BCRYPT_COST: "4",
    RUST_LOG: "info",
  });
  const child = spawn(process.env.CHATTY_BIN, ["--dev"], { env, stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  const waiters = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      for (const w of [...waiters]) {
        if (line.includes(w.needle)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
  }
  /** The first log line (from `from` on) containing `needle`. */
  const waitFor = (needle, from = 0) => {
    const seen = lines.slice(from).find((l) => l.includes(needle));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { needle, resolve };
      waiters.push(w);
      setTimeout(() => reject(new Error(`no server log line with "${needle}"; log:\n${lines.join("\n")}`)), STEP_TIMEOUT);
    });
  };
  return { child, waitFor, mark: () => lines.length };
}

// `value` of `key=value` or `key: value` in a log line, ANSI colours removed.
function after(line, key) {
  const plain = line.replace(/\x1b\[[0-9;]*m/g, "");
  const rest = plain.slice(plain.indexOf(key) + key.length);
  return rest.match(/[^\s"]+/)[0];
}

let step = "start";
const log = (text) => {
  step = text;
  console.log(`step: ${text}`);
};

async function seeText(page, selector, text) {
  await page.locator(selector, { hasText: text }).first().waitFor({ timeout: STEP_TIMEOUT });
}

async function gone(page, selector, text) {
  await page.locator(selector, { hasText: text }).first().waitFor({ state: "detached", timeout: STEP_TIMEOUT });
}

async function run(server, browser) {
  const port = after(await server.waitFor("listening on"), "port=");
  const base = `http://127.0.0.1:${port}`;

  log("alice registers");
  const alice = await (await browser.newContext()).newPage();
  alice.on("pageerror", (e) => console.log(`alice's page error: ${e}`));
  await alice.goto(base + "/");
  await alice.locator("body[data-ready=true]").waitFor({ timeout: STEP_TIMEOUT });
  await alice.click(".tabs [data-tab=register]");
  await alice.fill("#register-form [name=user]", "alice");
  await alice.fill("#register-form [name=email]", "alice@example.org");
  await alice.fill("#register-form [name=password]", "first-secret");
  await alice.click("#register-form button");
  await seeText(alice, "#notice", "activation link");

  log("alice verifies her address with the link from the mail");
  const link = after(await server.waitFor("activation link: "), "activation link: ");
  await alice.fill("#verify-form [name=link]", link);
  await alice.click("#verify-form button");
  await seeText(alice, "#notice", "verified");

  log("a wrong password is refused with the server's message");
  await alice.fill("#signin-form [name=password]", "wrong-secret");
  await alice.click("#signin-form button");
  await seeText(alice, "#notice.error", "invalid user name or password");

  log("alice signs in as an admin");
  await alice.fill("#signin-form [name=password]", "first-secret");
  await alice.click("#signin-form button");
  await seeText(alice, "#whoami", "alice (admin)");
  await seeText(alice, "#live", "stream");

  log("bob joins as a guest, on the long poll");
  const bob = await (await browser.newContext()).newPage();
  bob.on("pageerror", (e) => console.log(`bob's page error: ${e}`));
  await bob.goto(base + "/?transport=poll");
  await bob.locator("body[data-ready=true]").waitFor({ timeout: STEP_TIMEOUT });
  await bob.fill("#guest-form [name=user]", "bob");
  await bob.click("#guest-form button");
  await seeText(bob, "#whoami", "bob (guest)");
  await seeText(bob, "#live", "long poll");
  if (await bob.locator("#create-chat-form").isVisible()) throw new Error("a guest sees the admin form");

  log("alice creates a chat and bob sees it appear");
  await alice.fill("#create-chat-form [name=chat]", "Garden");
  await alice.click("#create-chat-form button");
  await seeText(bob, "#chats li", "Garden");

  log("both join it and chat");
  await alice.click('#chats li[data-chat="Garden"] .join');
  await alice.fill("#post-form [name=text]", "hello from alice");
  await alice.click("#post-form button");
  await seeText(alice, "#messages li.message", "hello from alice");
  await bob.click('#chats li[data-chat="Garden"] .join');
  await seeText(bob, "#messages li.message", "hello from alice"); // from the chat report
  await seeText(alice, "#messages li.system", "bob joined chat Garden"); // live, SSE
  await seeText(alice, "#members li", "bob");
  await bob.fill("#post-form [name=text]", "hi alice <b>not bold</b>");
  await bob.click("#post-form button");
  await seeText(alice, "#messages li.message", "hi alice <b>not bold</b>"); // live, SSE, as text
  if ((await alice.locator("#messages b").count()) !== 0) throw new Error("a message was rendered as HTML");
  await alice.fill("#post-form [name=text]", "nice to see you, bob");
  await alice.click("#post-form button");
  await seeText(bob, "#messages li.message", "nice to see you, bob"); // live, long poll

  log("the server bot answers /help");
  await bob.fill("#post-form [name=text]", "/help");
  await bob.click("#post-form button");
  await seeText(alice, "#messages li.message", "Available commands:");

  log("each message shows once, in order");
  for (const page of [alice, bob]) {
    const texts = await page.locator("#messages li.message .text").allTextContents();
    const expected = ["hello from alice", "hi alice <b>not bold</b>", "nice to see you, bob", "/help"];
    const got = texts.filter((t) => !t.startsWith("Available commands:"));
    if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`messages ${JSON.stringify(texts)}`);
  }

  log("bob's reload resumes his session");
  await bob.reload();
  await seeText(bob, "#whoami", "bob (guest)");
  await seeText(bob, "#messages li.message", "nice to see you, bob");
  await alice.fill("#post-form [name=text]", "still there?");
  await alice.click("#post-form button");
  await seeText(bob, "#messages li.message", "still there?");

  log("bob leaves and alice sees him go");
  await bob.click('#chats li[data-chat="Garden"] .leave');
  await seeText(alice, "#messages li.system", "bob left chat Garden");
  await gone(alice, "#members li", "bob");

  log("alice removes the chat and it disappears for bob");
  await alice.click('#chats li[data-chat="Garden"] .remove');
  await gone(bob, "#chats li", "Garden");
  await gone(alice, "#chats li", "Garden");

  log("bob logs out");
  await bob.click("#logout");
  await seeText(bob, "#notice", "Logged out");
  await bob.locator("#guest-form").waitFor({ timeout: STEP_TIMEOUT });

  log("alice resets her password with the token from the mail");
  await alice.click("#logout");
  await alice.click(".tabs [data-tab=reset]");
  const mark = server.mark();
  await alice.fill("#reset-request-form [name=user]", "alice");
  await alice.click("#reset-request-form button");
  await seeText(alice, "#notice", "reset token is on its way");
  const token = after(await server.waitFor("reset password token: ", mark), "reset password token: ");
  await alice.fill("#reset-form [name=token]", token);
  await alice.fill("#reset-form [name=password]", "second-secret");
  await alice.click("#reset-form button");
  await seeText(alice, "#notice", "Password changed");
  await alice.fill("#signin-form [name=password]", "second-secret");
  await alice.click("#signin-form button");
  await seeText(alice, "#whoami", "alice (admin)");
}

const server = startServer();
let browser;
let failed = false;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  await run(server, browser);
  console.log("two browsers chatted: every step passed");
} catch (err) {
  failed = true;
  console.error(`failed at step "${step}": ${err.stack || err}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  server.child.kill("SIGTERM");
}
process.exit(failed ? 1 : 0);
