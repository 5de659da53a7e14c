"""`xiaoan kb …`: import, export and search the knowledge base (docs/interfaces.md §6)."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Callable

import click

from xiaoan.kb.search import SearchResult


@click.group()
def kb() -> None:
    """知识库：导入、导出、检索。"""


def _repository():
    from xiaoan.kb.service import get_repository

    return get_repository()


def _database_error(exc: Exception) -> click.ClickException:
    return click.ClickException(
        f"无法访问数据库（{exc.__class__.__name__}）。如果还没有建表，请先运行 xiaoan db upgrade"
    )


@kb.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--by", "by", default=None, help="记录为修改人的名字（默认：当前系统用户）。")
@click.option("--if-empty", is_flag=True,
              help="只在知识库还没有任何条目时导入（make run 用它，不会覆盖维护人员在后台的修改）。")
def import_command(directory: Path, by: str | None, if_empty: bool) -> None:
    """从 DIRECTORY 中的 YAML 文件导入知识库（每个文件要么全部导入，要么一条都不导入）。"""
    from sqlalchemy.exc import SQLAlchemyError

    from xiaoan.kb.loader import read_dir

    if if_empty:
        try:
            existing = _repository().count_entries()
        except SQLAlchemyError as exc:
            raise _database_error(exc) from exc
        if existing:
            click.echo(f"知识库已有 {existing} 条，未导入（去掉 --if-empty 可强制导入）。")
            return
    by = by or f"import:{getpass.getuser()}"
    result = read_dir(directory, default_updated_by=by)
    for warning in result.warnings:
        click.echo(f"提示：{warning}", err=True)
    for error in result.errors:
        click.echo(f"错误：{error}", err=True)
    if not result.files:
        raise click.ClickException(f"{directory} 中没有 .yml 文件")
    try:
        report = _repository().import_entries(result.entries, by)
    except SQLAlchemyError as exc:
        raise _database_error(exc) from exc
    good = [f.path.name for f in result.files if f.ok]
    bad = [f.path.name for f in result.files if not f.ok]
    click.echo(
        f"已导入 {len(good)} 个文件：新增 {len(report.created)} 条，更新 {len(report.updated)} 条，"
        f"未变 {len(report.unchanged)} 条。"
    )
    if bad:
        click.echo(f"有错误、未导入的文件：{'、'.join(bad)}（其中的条目一条都没有导入）", err=True)
        sys.exit(1)


@kb.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export_command(directory: Path) -> None:
    """把数据库中的知识库导出为 DIRECTORY 下每个领域一个 YAML 文件。"""
    from xiaoan.kb.loader import write_dir

    from sqlalchemy.exc import SQLAlchemyError

    try:
        entries = _repository().export_entries()
    except SQLAlchemyError as exc:
        raise _database_error(exc) from exc
    if not entries:
        raise click.ClickException("数据库中还没有知识库条目，没有可导出的内容")
    for path in write_dir(directory, entries):
        click.echo(f"已写入 {path}")
    click.echo(f"共导出 {len(entries)} 条。")


def _load_service(source: str, kb_dir: Path | None):
    """The search service and a description of where its entries came from."""
    from sqlalchemy.exc import SQLAlchemyError

    from xiaoan.kb.service import StaticSearchService, get_repository, get_search_service

    if source in ("auto", "db"):
        try:
            repo = get_repository()
            if repo.count_entries() > 0:
                return get_search_service(repo.url), "数据库（已发布的条目）"
            if source == "db":
                raise click.ClickException("数据库中还没有知识库条目，请先运行 xiaoan kb import knowledge_base")
        except SQLAlchemyError as exc:
            if source == "db":
                raise click.ClickException(f"无法读取数据库：{exc.__class__.__name__}") from exc
    from xiaoan.kb.loader import DEFAULT_DIR

    directory = kb_dir or DEFAULT_DIR
    return StaticSearchService.from_yaml(directory), f"YAML 文件 {directory}（数据库中还没有条目）"


def result_json(result: SearchResult) -> list[dict]:
    """A search result as docs/interfaces.md §6 JSON objects, best first."""
    return [
        {
            "id": hit.entry.id,
            "question": hit.entry.title,
            "score": round(min(1.0, max(0.0, hit.score)), 4),
            "confident": result.decision == "answer" and i == 0,
        }
        for i, hit in enumerate(result.hits)
    ]


def _source_options(source_help: str) -> Callable[[Callable], Callable]:
    """`--source auto|db|yaml` (described by `source_help`) and `--kb-dir`: where a command reads the entries."""

    def decorate(func: Callable) -> Callable:
        func = click.option("--kb-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                            help="--source yaml 时读取的目录（默认 knowledge_base/）。")(func)
        return click.option("--source", type=click.Choice(["auto", "db", "yaml"]), default="auto",
                            show_default=True, help=source_help)(func)

    return decorate


@kb.command("search")
@click.argument("question", required=False)
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 50), help="返回几条。")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
@click.option("--intent", default=None, help="NLU 意图（可缩小领域）。")
@_source_options("auto：数据库有条目时用数据库，否则用 knowledge_base/ 的 YAML 文件。")
def search_command(
    question: str | None, top: int, as_json: bool, intent: str | None, source: str, kb_dir: Path | None
) -> None:
    """检索知识库。不给 QUESTION 时从标准输入逐行读取问题，每行输出一个结果。"""
    service, described = _load_service(source, kb_dir)
    click.echo(f"知识库来源：{described}，检索方式：{service.index().mode}", err=True)
    if question is not None:
        _print(service.search(question, intent=intent, top=top), as_json)
        return
    for line in sys.stdin:
        text = line.strip()
        if not text:
            if as_json:
                click.echo("[]")
            continue
        _print(service.search(text, intent=intent, top=top), as_json)
        sys.stdout.flush()


def _print(result: SearchResult, as_json: bool) -> None:
    rows = result_json(result)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    labels = {"answer": "直接回答", "choices": "给出选项", "none": "无法回答"}
    click.echo(f"{result.query}  →  {labels[result.decision]}")
    for row in rows:
        mark = "✓" if row["confident"] else " "
        click.echo(f"  {mark} {row['score']:.3f}  {row['id']:<36} {row['question']}")


@kb.command("check-basis")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON 列表。")
@_source_options("auto：数据库有条目时查数据库（含复核记录），否则查 knowledge_base/ 的 YAML 文件。")
def check_basis_command(as_json: bool, source: str, kb_dir: Path | None) -> None:
    """列出需复核的条目：依据缺失、不在法规库、已废止、复核后被修改，或一年没有复核（与后台“需复核”相同）。"""
    from sqlalchemy.exc import SQLAlchemyError

    from xiaoan.kb.legal import RegisterError, load_register
    from xiaoan.kb.review import REASONS, review_items

    try:
        register = load_register()
    except RegisterError as exc:
        raise click.ClickException(f"法规库文件有错误：{exc}") from exc
    entries, recorded, described = None, {}, None
    if source in ("auto", "db"):
        try:
            repo = _repository()
            if repo.count_entries() > 0:
                entries = [(r.data, r.version) for r in repo.list_entries()]
                recorded = repo.last_reviews()
                described = "数据库"
            elif source == "db":
                raise click.ClickException("数据库中还没有知识库条目，请先运行 xiaoan kb import knowledge_base")
        except SQLAlchemyError as exc:
            if source == "db":
                raise _database_error(exc) from exc
    if entries is None:
        from xiaoan.kb.loader import DEFAULT_DIR, read_dir

        directory = kb_dir or DEFAULT_DIR
        result = read_dir(directory)
        for error in result.errors:
            click.echo(f"错误：{error}", err=True)
        entries = [(e, 0) for e in result.entries]
        described = f"YAML 文件 {directory}"
    items = review_items(entries, recorded, register)
    click.echo(f"知识库来源：{described}；法规库 {len(register)} 部；需复核 {len(items)} 条。", err=True)
    if as_json:
        click.echo(json.dumps([item.to_json() for item in items], ensure_ascii=False, indent=1))
        return
    for item in items:
        click.echo(f"{item.entry.id}  {item.entry.title}")
        for reason in item.reasons:
            click.echo(f"  - [{REASONS[reason.code]}] {reason.message}")
