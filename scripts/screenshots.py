"""Take the screenshots of the page that docs/ and README show, from a running stack.

    docker compose up --build -d
    .venv/bin/python scripts/screenshots.py [--url http://localhost:4502/]

Two people chat in the lobby while the ticker runs; the page is shot wide
(docs/images/page.png) and on a phone's width (docs/images/page-narrow.png). Drives Debian's
Chromium, as the browser tests do (scripts/test installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path

from playwright.async_api import Page, async_playwright

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


async def chat(page: Page, nick: str) -> None:
    await page.fill("#nick", nick)
    await page.fill("#first-room", "lobby")
    await page.click("#connect")
    await page.locator("#members li[data-nick]").first.wait_for()


async def say(page: Page, text: str) -> None:
    await page.fill("#say", text)
    await page.press("#say", "Enter")
    await page.locator("#messages li[data-type=message]", has_text=text).first.wait_for()


async def main(url: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("screenshots.py: chromium is not installed")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        wide = await browser.new_page(viewport={"width": 1280, "height": 800})
        narrow = await browser.new_page(
            viewport={"width": 390, "height": 844}, device_scale_factor=2
        )
        for page in (wide, narrow):
            await page.goto(url)
        await chat(wide, "alice")
        await chat(narrow, "bob")
        await say(wide, "hello bob, it is 2010 again")
        await say(narrow, "hi alice! the ticker works too")
        await wide.locator('#quotes tbody tr[data-symbol="MSFT"][data-seq]').wait_for()
        await asyncio.sleep(2)  # Let the ticker move and flash.
        IMAGES.mkdir(parents=True, exist_ok=True)
        await wide.screenshot(path=IMAGES / "page.png")
        await narrow.screenshot(path=IMAGES / "page-narrow.png")
        await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:4502/")
    asyncio.run(main(parser.parse_args().url))
