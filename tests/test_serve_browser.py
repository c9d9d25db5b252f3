"""The web page in a real headless browser (Debian's chromium driven by playwright): type a query, read results."""

import shutil

import pytest

from reasonir.index import Index, IndexOptions, build_index
from reasonir.io import write_corpus
from reasonir.types import Document

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from reasonir.serve import create_app
    from served_index import RunningServer

    root = tmp_path_factory.mktemp("browser")
    docs = [Document("photo", "Plants use chlorophyll to turn light energy into sugar.", title="Photosynthesis"),
            Document("quake", "Earthquakes happen where tectonic plates grind past each other.", title="Earthquakes"),
            Document("insulin", "Insulin from the pancreas lowers blood sugar.", title="Insulin")]
    write_corpus(root / "c.jsonl", docs)
    build_index(str(root / "c.jsonl"), str(root / "idx"), IndexOptions(model="hash", bm25=True))
    srv = RunningServer(create_app(Index.open(root / "idx")))
    yield srv
    srv.stop()


def test_type_a_query_and_see_ranked_results(server):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            # selectors, not wait_for_function: the page's Content-Security-Policy forbids eval
            page.wait_for_selector("#mode option", state="attached")
            assert page.input_value("#mode") == "hybrid"
            page.fill("#query", "why do the ground and the continents shake when plates move")
            page.click("#go")
            page.wait_for_selector("li.result")
            titles = page.locator("li.result .title").all_inner_texts()
            assert titles[0] == "Earthquakes" and len(titles) == 3
            assert "results in" in page.inner_text("#status")
            page.click("li.result >> nth=0 >> text=show document")
            page.wait_for_selector("pre.full")
            assert "tectonic plates" in page.inner_text("pre.full")
            page.fill("#k", "2")
            page.fill("#query", "what lowers blood sugar")
            page.select_option("#mode", "bm25")
            page.press("#query", "Control+Enter")
            page.wait_for_selector("#status:has-text('(bm25)')")
            titles = page.locator("li.result .title").all_inner_texts()
            assert titles == ["Insulin", "Photosynthesis"]
        finally:
            browser.close()
