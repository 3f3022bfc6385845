// Opens a page in headless Chromium (Debian's, by default /usr/bin/chromium) and reports what a user and an
// accessibility audit see: axe-core's WCAG 2.1 A/AA violations, the text of chosen elements, the order in which
// the keyboard's Tab key reaches links, buttons and fields (and whether each shows a focus outline), whether the
// page scrolls sideways, and a screenshot per viewport; optionally after filling and submitting a form on it
// (`form`: {fill: {selector: text}, files: {selector: path}, submit: selector}). Driven by tests/node.py; reads one JSON request on
// stdin, writes one JSON answer on stdout.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const request = JSON.parse(readFileSync(0, "utf8"));
const browser = await chromium.launch({
  executablePath: request.chromium || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const answer = { viewports: {} };
try {
  for (const viewport of request.viewports) {
    // bypassCSP only so that axe's script can be added; the page's own CSP is what the tests check elsewhere.
    const context = await browser.newContext({
      viewport: { width: viewport.width, height: viewport.height },
      // axe-core needs script and timers to run; our pages carry no script of their own (tests assert that),
      // so what is rendered is what a browser without JavaScript shows.
      javaScriptEnabled: true,
      bypassCSP: true,
    });
    const page = await context.newPage();
    const consoleErrors = [];
    page.on("console", (message) => { if (message.type() === "error") consoleErrors.push(message.text()); });
    const failedRequests = [];
    page.on("response", (response) => { if (response.status() >= 400) failedRequests.push(`${response.status()} ${response.url()}`); });
    let response = await page.goto(request.url, { waitUntil: "load" });
    if (request.form) {
      // Optional: fill the page's form and submit it as a person would; what is checked is the page it leads to.
      for (const [selector, value] of Object.entries(request.form.fill || {})) await page.fill(selector, value);
      for (const [selector, path] of Object.entries(request.form.files || {})) await page.setInputFiles(selector, path);
      [response] = await Promise.all([
        page.waitForNavigation({ waitUntil: "load" }),
        page.click(request.form.submit),
      ]);
    }
    const status = response ? response.status() : 0;

    const texts = {};
    for (const [name, selector] of Object.entries(request.selectors || {})) {
      const element = await page.$(selector);
      texts[name] = element ? (await element.innerText()).trim() : null;
    }

    const focusOrder = [];
    for (let step = 0; step < (request.tabs ?? 40); step++) {
      await page.keyboard.press("Tab");
      const focused = await page.evaluate(() => {
        const element = document.activeElement;
        if (!element || element === document.body) return null;
        const style = getComputedStyle(element);
        const outlined = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
        return {
          tag: element.tagName.toLowerCase(),
          text: (element.innerText || element.getAttribute("aria-label") || element.getAttribute("name") || "")
            .trim().slice(0, 80),
          href: element.getAttribute("href"),
          visibleFocus: outlined || style.boxShadow !== "none",
        };
      });
      if (focused === null) break;
      const last = focusOrder[focusOrder.length - 1];
      if (focusOrder.length && last.tag === focused.tag && last.text === focused.text && last.href === focused.href) break;
      focusOrder.push(focused);
    }

    const scrollsSideways = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    // The innermost elements reaching past the right edge: what made the page scroll sideways.
    const overflowing = await page.evaluate(() => [...document.querySelectorAll("body *")]
      .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 1)
      .filter((element) => ![...element.children].some((child) => child.getBoundingClientRect().right > window.innerWidth + 1))
      .slice(0, 5)
      .map((element) => `${element.tagName.toLowerCase()}${element.id ? "#" + element.id : ""}: ${(element.textContent || "").trim().slice(0, 60)}`));
    await page.evaluate(AXE_SOURCE);
    const axe = await page.evaluate(async () => {
      const result = await window.axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      });
      return result.violations.map((violation) => ({
        id: violation.id, impact: violation.impact, help: violation.help,
        nodes: violation.nodes.map((node) => node.target.join(" ")).slice(0, 5),
      }));
    });
    // Printed as the print stylesheet lays it out (A4, as `@page` asks): how many pages it takes.
    let printedPages = null;
    if (request.print) {
      const pdf = await page.pdf({ preferCSSPageSize: true, printBackground: true });
      printedPages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) || []).length;
      if (request.screenshotDir) {
        const { writeFileSync } = await import("node:fs");
        writeFileSync(`${request.screenshotDir}/${request.name || "page"}-${viewport.name}.pdf`, pdf);
      }
    }
    if (request.screenshotDir) {
      await page.screenshot({ path: `${request.screenshotDir}/${request.name || "page"}-${viewport.name}.png`, fullPage: true });
    }
    answer.viewports[viewport.name] = {
      status, texts, focusOrder, scrollsSideways, overflowing, violations: axe, consoleErrors, failedRequests,
      printedPages,
    };
    await context.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(answer));
