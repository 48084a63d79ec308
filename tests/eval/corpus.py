"""A tiny generated corpus, written into an index the way ingest writes it, and its questions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from core import Chunk, Settings, configured_embedding
from retrieval import DenseEmbedder, IndexPoint, encode_documents, open_index

#: (file, acl, text): three public filings and one the evaluation principal may not read.
CHUNKS = [
    ("2023 Q1 ACME.pdf", ["*"], "Acme widget revenue was $4,210 million in the first quarter."),
    ("2023 Q1 ACME.pdf", ["*"], "Acme employees numbered 12,400 at the end of the quarter."),
    (
        "2023 Q2 ACME.pdf",
        ["*"],
        "Acme widget revenue increased to $4,980 million in the second quarter.",
    ),
    ("2023 Q2 ACME.pdf", ["*"], "Acme opened a factory in Lyon that makes gadget batteries."),
    ("2023 Q1 BOLT.pdf", ["*"], "Bolt cloud revenue was $870 million, up 12% from a year ago."),
    ("2023 Q1 BOLT.pdf", ["*"], "Bolt repurchased shares worth $150 million during the quarter."),
    ("secret.pdf", ["user:ceo"], "The secret merger of Acme and Bolt is priced at $9,999 million."),
]

QUESTIONS = [
    {
        "id": "a1",
        "question": "What was Acme widget revenue in the first quarter of 2023?",
        "answer": "$4,210 million",
        "sources": ["*2023 Q1 ACME*"],
        "question_type": "single",
        "passages": ["Acme widget revenue was $4,210 million in the first quarter."],
    },
    {
        "id": "a2",
        "question": "How much did Acme widget revenue increase to in the second quarter?",
        "answer": "$4,980 million",
        "sources": ["*2023 Q2 ACME*"],
        "question_type": "single",
    },
    {
        "id": "b1",
        "question": "How much was Bolt cloud revenue?",
        "answer": "Bolt cloud revenue was $870 million.",
        "sources": ["*BOLT*"],
        "question_type": "table",
    },
    {
        "id": "b2",
        "question": "What shares did Bolt repurchase?",
        "answer": "Bolt repurchased shares worth $150 million.",
        "sources": ["*BOLT*"],
        "question_type": "table",
    },
    {
        "id": "m1",
        "question": "Where did Acme open a factory making gadget batteries?",
        "answer": "Lyon",
        "sources": ["*ACME*"],
        "question_type": "multi",
    },
]


def build_index(data_dir: Path) -> None:
    """Write :data:`CHUNKS` into the index of ``data_dir``."""
    settings = Settings(data_dir=data_dir)
    embedder = DenseEmbedder(configured_embedding(settings))
    texts = [c[2] for c in CHUNKS]
    dense = embedder.embed_documents(texts)
    sparse = encode_documents(texts)
    with open_index(settings) as index:
        index.ensure_collection(embedder.dim)
        index.upsert(
            [
                IndexPoint(
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{i}")),
                    dense=[float(x) for x in dense[i]],
                    sparse=sparse[i],
                    payload=Chunk(
                        doc_id=name,
                        chunk_index=i,
                        text=text,
                        title=name,
                        source_uri=f"file:///docs/{name.replace(' ', '%20')}",
                        page_start=1,
                        page_end=1,
                        element_types=["NarrativeText"],
                        acl=acl,
                        tenant="default",
                    ).to_payload(),
                )
                for i, (name, acl, text) in enumerate(CHUNKS)
            ]
        )


def write_questions(path: Path) -> Path:
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path
