"""Telegram Desktop exports (`result.json`): one document per message with text, of one
channel or chat (`{"name", "type", "id", "messages": [...]}`) or of every chat
(`{"chats": {"list": [...]}}`, and `left_chats`).

The export is streamed (ijson's parse events, one message built at a time), so a
100,000-message file reads in the memory of one message (bench.documents measures it).
A message's text is a string or a list of strings and entities (`{"type", "text"}`);
service messages (joins, pins) and messages without text (a photo alone) are not
documents. A message with a bad field is skipped with its position and field; an export
cut short yields the messages before the cut, then a located entry for the cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson

from disinfodb.documents.base import Document, Skipped, skip

_MESSAGES = "messages.item"
_CHAT_FIELDS = ("name", "type", "id", "username")


def read(name: str, content: BinaryIO, skipped: Skipped, start_at: int = 0) -> Iterator[Document]:
    """The export's messages from message number `start_at` on (1-based, counted over the
    whole file; those before are passed over without being built)."""
    chats: dict[str, dict[str, Any]] = {}  # chat prefix ("" for a one-chat export) -> its fields so far
    message: ijson.ObjectBuilder | None = None
    inside = ""  # the prefix of the message being read, if any
    position = 0  # messages seen in the file
    try:
        for prefix, event, value in ijson.parse(content, use_float=True):
            if inside:
                if prefix == inside and event == "end_map":
                    position += 1
                    chat = inside.removesuffix(_MESSAGES).removesuffix(".")
                    found = (_document(name, message.value, chats.get(chat, {}), position, skipped)
                             if message is not None else None)
                    inside, message = "", None
                    if found is not None:
                        yield found
                elif message is not None:
                    message.event(event, value)
            elif event == "start_map" and (prefix == _MESSAGES or prefix.endswith("." + _MESSAGES)):
                inside = prefix
                if position + 1 >= start_at:
                    message = ijson.ObjectBuilder()
                    message.event(event, value)
            elif event in ("string", "number") and prefix.rpartition(".")[2] in _CHAT_FIELDS:
                chat_prefix, _, key = prefix.rpartition(".")
                if chat_prefix == "" or chat_prefix.endswith("list.item"):
                    chats.setdefault(chat_prefix, {})[key] = value
            elif event == "start_map" and prefix.endswith("list.item"):
                chats.pop(prefix, None)  # the next chat of an all-chats export
    except ijson.JSONError as error:  # IncompleteJSONError for a cut file
        cut = "ends early (truncated?)" if isinstance(error, ijson.IncompleteJSONError) else "is not valid JSON"
        skip(skipped, name, f"the export {cut} after {position:,} messages: {str(error).strip()}", position + 1,
             "message")
        return
    if position == 0 and not chats:
        skip(skipped, name, "not a Telegram export (no `messages`, no `chats`)")


def _document(name: str, message: dict[str, Any], chat: dict[str, Any], position: int,
              skipped: Skipped) -> Document | None:
    if message.get("type", "message") != "message":
        return None
    ident = message.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int | str) or not str(ident).strip():
        skip(skipped, name, "the message has no id", position, "message", "id")
        return None
    text = _text(message.get("text", ""))
    if text is None:
        skip(skipped, name, f"the text must be a string or a list of strings and entities (message id {ident})",
             position, "message", "text")
        return None
    if not text.strip():
        return None
    date = message.get("date")
    if date is not None and not isinstance(date, str):
        skip(skipped, name, f"the date must be a string (message id {ident})", position, "message", "date")
        return None
    username = chat.get("username")
    meta = {key: str(value) for key, value in (("channel", chat.get("name")), ("from", message.get("from")),
                                               ("forwarded_from", message.get("forwarded_from")))
            if value is not None}
    return Document(f"{name}#{chat.get('id', '')}/{ident}", text, date=date, title=None,
                    url=f"https://t.me/{username}/{ident}" if isinstance(username, str) and username else None,
                    source=name, meta=meta, position=position)


def _text(value: Any) -> str | None:
    """A message's text: a string, or a list of strings and entities ({"type", "text"})."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return None
    parts = []
    for part in value:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text", ""), str):
            parts.append(part.get("text", ""))
        else:
            return None
    return "".join(parts)
