# One worker of the classroom setup: the lab's Streamlit app on port 8501 (see compose.yaml, deploy/haproxy.cfg).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_SERVER_HEADLESS=true STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
# bubblewrap runs learners' code in the Exercises page's sandbox
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
WORKDIR /lab
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY app.py pyproject.toml README.md ./
COPY .streamlit .streamlit
COPY mlp mlp
COPY lab lab
COPY ui ui
COPY pages pages
COPY data/letters.npz data/pretrained.npz data/
RUN useradd --create-home lab && chown -R lab /lab
USER lab
EXPOSE 8501
HEALTHCHECK --interval=5s --timeout=2s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=2)"
CMD ["streamlit", "run", "app.py", "--server.address", "0.0.0.0", "--server.port", "8501", "--server.fileWatcherType", "none"]
