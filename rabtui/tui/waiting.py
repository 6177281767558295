"""What a job waiting on the operator waits for, in one line for its status (the question's own
text stays in the dialog)."""

from __future__ import annotations


def waiting_line(prompt: dict | None) -> str:
    """"waiting for disc 2 of 5: RAB3D02", "waiting for medium usb-1", else the question's first line."""
    if prompt is None:
        return "waiting for an answer"
    data = prompt.get("data") if isinstance(prompt.get("data"), dict) else {}
    if prompt.get("kind") == "insert_disc" and data.get("volid"):
        if data.get("disc") and data.get("discs"):
            return f"waiting for disc {data['disc']} of {data['discs']}: {data['volid']}"
        return f"waiting for disc {data['volid']}"
    if prompt.get("kind") == "insert_medium" and data.get("medium"):
        return f"waiting for medium {data['medium']}"
    first = (prompt.get("text") or "").strip().splitlines()
    return f"waiting for an answer: {first[0]}" if first else "waiting for an answer"


def job_prompt(prompts: list[dict], job_id: int) -> dict | None:
    return next((p for p in prompts if p["job_id"] == job_id), None)
