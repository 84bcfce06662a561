"""slm-migrate: move the repetitive work of LLM-powered agents onto small language models."""

__version__ = "0.1.0"
