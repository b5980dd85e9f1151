"""The REST side: rooms and stored messages (JSON in and out; no authentication, as the seed's)."""

import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chat.consumers import identity
from chat.models import ChatRoom, Message


def room_json(room):
    return {"id": room.id, "name": room.name, "created_at": room.created_at.isoformat()}


@csrf_exempt
def rooms(request):
    if request.method == "POST":
        body = json.loads(request.body or b"{}")
        room = ChatRoom.objects.create(name=str(body.get("name", "room"))[:100])
        return JsonResponse(room_json(room), status=201)
    return JsonResponse([room_json(r) for r in ChatRoom.objects.order_by("id")], safe=False)


@csrf_exempt
def messages(request):
    if request.method != "POST":
        return JsonResponse({"error": "method not allowed"}, status=405)
    body = json.loads(request.body or b"{}")
    user_id, nickname = identity({"headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]})
    room = ChatRoom.objects.get(id=body["room_id"])
    m = Message.objects.create(room=room, user_id=user_id, nickname=nickname, content=str(body["message"]))
    return JsonResponse({"id": m.id, "room_id": room.id, "message": m.content, "created_at": m.created_at.isoformat()}, status=201)
