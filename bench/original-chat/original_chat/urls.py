from django.urls import path

from chat import views

urlpatterns = [
    path("api/chat/rooms/", views.rooms),
    path("api/chat/messages/", views.messages),
]
