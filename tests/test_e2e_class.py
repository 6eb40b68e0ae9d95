"""Real browser: a class experiment from the teacher's and two students' tabs.

The teacher joins, creates an experiment on the Class page and reads its QR code back to the join
link; two students open the link, join under their names, train the Quick demo with two learning
rates; the teacher's board shows both runs (scatter, overlay, table) within 5 s of their end; the
teacher hides one and the students' board no longer has it; the board in presenter mode at 1024x768.
"""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest
from conftest import screenshot, streamlit_server, wait_for_app
from PIL import Image

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def class_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    old = os.environ.get("MLP_LAB_DATABASE_URL")
    os.environ["MLP_LAB_DATABASE_URL"] = f"sqlite:///{folder / 'class.sqlite'}"
    try:
        with streamlit_server(folder / "server.log") as url:
            yield url
    finally:
        os.environ.pop("MLP_LAB_DATABASE_URL") if old is None else os.environ.update(MLP_LAB_DATABASE_URL=old)


def tab(browser, size=(1280, 800)):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.set_default_timeout(60000)
    return context, page


def open_class(page, url, query=""):
    page.goto(url)
    wait_for_app(page)
    page.goto(f"{url}/class{query}")
    page.get_by_role("heading", name="Class experiments").wait_for()


def join(page, name):
    page.get_by_label("Your display name").fill(name)
    page.get_by_role("button", name="Join").click()
    page.get_by_text(f"You are {name}").wait_for()


def decode_qr(page, url):
    import zxingcpp

    page.locator('[data-testid="stImage"] img').first.wait_for()
    for img in page.locator('[data-testid="stImage"] img').all():
        src = img.get_attribute("src")
        data = page.request.get(src if src.startswith("http") else f"{url}{src}").body()
        path = f"/tmp/qr_{os.getpid()}.png"
        open(path, "wb").write(data)
        found = zxingcpp.read_barcodes(np.asarray(Image.open(path).convert("L")))
        if found:
            return found[0].text
    return None


def train_quick(page, lr_presses):
    page.get_by_role("link", name="Training").click()
    page.get_by_role("heading", name="Train the network").wait_for()
    page.get_by_text("Class experiment").first.wait_for()
    thumb = page.locator('[data-testid="stSlider"]', has_text="Learning rate").get_by_role("slider")
    for _ in range(lr_presses):
        before = thumb.get_attribute("aria-valuetext")
        thumb.focus()
        thumb.press("ArrowRight")
        page.wait_for_function("([el, v]) => el.getAttribute('aria-valuetext') !== v", arg=[thumb.element_handle(),
                                                                                             before])
        wait_for_app(page)
    lr = thumb.get_attribute("aria-valuetext")
    page.get_by_role("button", name="Train").click()
    return float(lr)


def board_names(page):
    """The board table's text (the data grid draws on a canvas; its accessible table holds the cells)."""
    frame = page.locator('[data-testid="stDataFrame"]').first
    frame.wait_for()
    return frame.text_content() or ""


def wait_board(page, predicate, timeout):
    """The board's text once ``predicate(text)`` holds (the board refreshes every 3 s), else the last text."""
    deadline = time.time() + timeout
    text = board_names(page)
    while not predicate(text) and time.time() < deadline:
        page.wait_for_timeout(250)
        text = board_names(page)
    return text


def test_a_class_experiment_from_creation_to_the_board(class_url, browser):
    teacher_ctx, teacher = tab(browser)
    open_class(teacher, class_url)
    join(teacher, "Teacher")
    teacher.get_by_label("Title").fill("Which learning rate?")
    teacher.get_by_label("Question for the class").fill("Train with your own learning rate.")
    teacher.get_by_role("button", name="Create the experiment").click()
    code_text = teacher.get_by_text(re.compile(r"Join code: [A-Z2-9]{8}")).inner_text()
    code = re.search(r"[A-Z2-9]{8}", code_text).group(0)
    assert decode_qr(teacher, class_url) == f"{class_url}/train?class={code}"

    students = []
    for name, presses in (("Ada", 0), ("Bob", 3)):
        ctx, page = tab(browser)
        open_class(page, class_url, f"?class={code}")
        join(page, name)
        students.append((name, ctx, page, train_quick(page, presses)))
    for _, _, page, _ in students:
        page.get_by_text("Run 1 finished").wait_for(timeout=180000)
        ended = time.time()
    assert students[0][3] != students[1][3]
    shown = wait_board(teacher, lambda t: "Ada" in t and "Bob" in t, ended + 5 - time.time())
    assert "Ada" in shown and "Bob" in shown, shown
    assert teacher.locator('[data-testid="stVegaLiteChart"]').count() >= 2
    screenshot(teacher, "class_board_1280x800")
    teacher.reload()  # a new session: the teacher key comes back from the browser's cookie
    teacher.get_by_role("heading", name="Which learning rate?").wait_for()

    wait_for_app(teacher)
    picker = teacher.get_by_role("combobox", name="Run")
    picker.click()
    picker.fill("Bob")  # the list filters as one types; the option is then the only one
    teacher.get_by_role("option", name=re.compile("Bob")).click()
    teacher.get_by_role("button", name="Hide run").click()
    student_page = students[0][2]
    open_class(student_page, class_url, f"?class={code}")
    shown = wait_board(student_page, lambda t: "Ada" in t, 10)
    assert "Ada" in shown and "Bob" not in shown, shown

    teacher.goto(f"{class_url}/class?class={code}&present=1")
    teacher.get_by_role("heading", name="Which learning rate?").wait_for()
    teacher.locator('[data-testid="stSidebar"]').wait_for(state="hidden", timeout=30000)
    screenshot(teacher, "class_board_present_1024x768", (1024, 768))
    for _, ctx, _, _ in students:
        ctx.close()
    teacher_ctx.close()
