"""The dashboard in a real browser: headless Chromium driven by Selenium (Tests/AloftTests/DashboardTests.swift runs
this against a live `aloft server` with the test app deployed).

Environment: ALOFT_URL (the HTTP API), ALOFT_TOKEN (a client token of workspace main), ALOFT_OTHER_TOKEN (one of
another workspace), ALOFT_SCREENSHOTS (a directory for screenshots, optional). Prints "dashboard: ok" at the end;
any failed check raises.
"""
import json
import os
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as expected
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["ALOFT_URL"]
TOKEN = os.environ["ALOFT_TOKEN"]
OTHER_TOKEN = os.environ["ALOFT_OTHER_TOKEN"]
SCREENSHOTS = os.environ.get("ALOFT_SCREENSHOTS")


def spawn(function, argument):
    """Spawns a call of the deployed test app over the HTTP API; returns its id."""
    request = urllib.request.Request(
        f"{URL}/v1/apps/fixtures/functions/{function}/spawn", data=json.dumps(argument).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)["call_id"]


def screenshot(browser, name):
    if SCREENSHOTS:
        browser.save_screenshot(os.path.join(SCREENSHOTS, name))


def log_in(browser, token):
    browser.delete_all_cookies()
    browser.get(f"{URL}/dashboard")
    WebDriverWait(browser, 20).until(expected.url_contains("/dashboard/login"))
    field = browser.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    browser.find_element(By.ID, "login").click()


def main():
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1100"]:
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(browser, 30)
    try:
        # A wrong token is refused on the login page; the right one opens the apps.
        log_in(browser, "aloft_wrong")
        wait.until(expected.text_to_be_present_in_element((By.TAG_NAME, "body"), "not a valid client token"))
        log_in(browser, TOKEN)
        wait.until(expected.presence_of_element_located((By.ID, "apps")))
        apps = browser.find_element(By.ID, "apps")
        assert "fixtures" in apps.text, apps.text

        # The apps page updates in place: a new call appears in its latest calls without a reload.
        browser.execute_script("window.notReloaded = true;")
        early = spawn("say", "seen on the apps page")
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'#home tr[data-call="{early}"]'))
        assert browser.execute_script("return window.notReloaded === true;")

        # Open the app; its live stream connects. Its web endpoints are listed with their URLs.
        browser.find_element(By.LINK_TEXT, "fixtures").click()
        wait.until(expected.text_to_be_present_in_element((By.ID, "status"), "live"))
        endpoint = browser.find_element(By.CSS_SELECTOR, '#endpoints tr[data-endpoint="web_greet"]')
        assert "GET" in endpoint.text and "/main/fixtures/web_greet" in endpoint.text, endpoint.text
        raw = browser.find_element(By.CSS_SELECTOR, '#endpoints tr[data-endpoint="web_raw_private"]')
        assert "raw handler" in raw.text and "client token" in raw.text, raw.text

        # A call appears and finishes; its output reaches the live log.
        call = spawn("say", "hello from the browser test")
        row = f'#calls tr[data-call="{call}"]'
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, row))
        wait.until(lambda b: "succeeded" in b.find_element(By.CSS_SELECTOR, row).text)
        wait.until(expected.text_to_be_present_in_element((By.ID, "log"), "hello from the browser test"))
        # The function's row shows its container.
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, '#functions tr[data-function="say"]'))
        screenshot(browser, "dashboard-app.png")

        # A failure shows its error, on the app page and on the call's page.
        failing = spawn("fail_plain", "x")
        failed_row = f'#calls tr[data-call="{failing}"]'
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, failed_row)
                   and "failed" in b.find_element(By.CSS_SELECTOR, failed_row).text)
        assert "plain failure" in browser.find_element(By.CSS_SELECTOR, failed_row).text
        browser.find_element(By.CSS_SELECTOR, f"{failed_row} a").click()
        wait.until(expected.text_to_be_present_in_element((By.ID, "call-error"), "plain failure"))
        screenshot(browser, "dashboard-call-failed.png")

        # A running call's page follows it in place until it ends: its status, then its output.
        slow = spawn("sleepy", 3)
        browser.get(f"{URL}/dashboard/calls/{slow}")
        wait.until(expected.presence_of_element_located((By.ID, "call-status")))
        assert browser.find_element(By.ID, "call-status").text == "running", browser.find_element(By.ID, "call-status").text
        browser.execute_script("window.notReloaded = true;")
        wait.until(expected.text_to_be_present_in_element((By.ID, "call-status"), "succeeded"))
        assert browser.execute_script("return window.notReloaded === true;")

        # The successful call's page: its result and its container's output.
        browser.get(f"{URL}/dashboard/calls/{call}")
        wait.until(expected.text_to_be_present_in_element((By.ID, "call-status"), "succeeded"))
        assert "hello from the browser test" in browser.find_element(By.ID, "call-result").text
        assert "hello from the browser test (stderr)" in browser.find_element(By.ID, "log").text

        # The log tail filtered by call shows that call's lines only.
        browser.get(f"{URL}/dashboard/apps/fixtures?call={failing}")
        wait.until(expected.text_to_be_present_in_element((By.ID, "status"), "live"))
        browser.get(f"{URL}/dashboard/apps/fixtures?call={call}")
        wait.until(expected.text_to_be_present_in_element((By.ID, "log"), "hello from the browser test"))

        browser.get(f"{URL}/dashboard")
        wait.until(expected.presence_of_element_located((By.ID, "apps")))
        screenshot(browser, "dashboard-home.png")

        # Another workspace sees none of it.
        log_in(browser, OTHER_TOKEN)
        wait.until(expected.presence_of_element_located((By.ID, "apps")))
        assert "fixtures" not in browser.find_element(By.TAG_NAME, "main").text
        browser.get(f"{URL}/dashboard/calls/{call}")
        wait.until(expected.text_to_be_present_in_element((By.TAG_NAME, "main"), "No call"))
        print("dashboard: ok")
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
