"""The knowledge base: entries with versions, YAML import/export, search, votes and the console.

Modules:
    models: SQLAlchemy tables (entries, versions, votes, unanswered questions, revision counter).
    schema: the entry schema and its validation (Chinese error messages, shared by import and console).
    loader: YAML files of ``knowledge_base/`` to entries and back.
    repository: every database operation (editing workflow, votes, unanswered questions).
    search: the search index (jieba + synonyms + bm25s) and the confidence decision.
    service: the per-process search service that reloads when the revision counter changes.
"""
