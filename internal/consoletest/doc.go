// Package consoletest holds the end-to-end tests of relaysim's web console
// (simulator/console.go): a headless Chromium, driven through the Chrome
// DevTools Protocol by github.com/chromedp/chromedp, opens the console of an
// in-process simulator with examples/echogateway connected, chats, presses
// buttons and reads the page.
//
// The tests skip when no Chromium is installed (Debian: apt-get install
// chromium), unless RELAYKIT_BROWSER_TESTS=required, which CI sets so a
// missing browser fails instead. RELAYKIT_CHROMIUM names the browser binary
// when it is not chromium on PATH or /usr/bin/chromium.
// RELAYKIT_CONSOLE_SCREENSHOT=PATH writes a PNG of the console there
// (docs/console.png is made this way).
package consoletest
