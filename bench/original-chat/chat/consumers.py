"""The room socket: join the room's group, broadcast what is received. Nothing is stored."""

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from chat.models import ChatRoom


def identity(scope):
    """X-User-ID / X-Nickname headers, else user_id / nickname query parameters."""
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    query = parse_qs(scope.get("query_string", b"").decode())
    user_id = headers.get("x-user-id") or query.get("user_id", [""])[0]
    nickname = headers.get("x-nickname") or query.get("nickname", ["anonymous"])[0]
    return user_id, nickname


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_id = self.scope["url_route"]["kwargs"]["room_id"]
        self.group = f"chat_{self.room_id}"
        self.user_id, self.nickname = identity(self.scope)
        if not await database_sync_to_async(ChatRoom.objects.filter(id=self.room_id).exists)():
            await self.close()
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        data = json.loads(text_data)
        await self.channel_layer.group_send(
            self.group,
            {"type": "chat.message", "message": data["message"], "user_id": self.user_id, "nickname": self.nickname},
        )

    async def chat_message(self, event):
        await self.send(
            text_data=json.dumps(
                {"type": "chat.message", "message": event["message"], "user_id": event["user_id"], "nickname": event["nickname"]}
            )
        )
