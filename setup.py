"""Packaging for xtune. Dependencies are the pinned set in requirements.txt."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements() -> list[str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


setup(
    name="xtune",
    version="0.1.0",
    description="Declarative, config-driven fine-tuning of large language models (mmengine style).",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["xtune", "xtune.*"]),
    package_data={"xtune": ["testing/*.txt", "testing/*.jinja"]},
    install_requires=read_requirements(),
    extras_require={"dev": ["pytest==9.2.0", "ruff==0.17.6"]},
    entry_points={"console_scripts": ["xtune=xtune.cli.main:main"]},
)
