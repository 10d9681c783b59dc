from django.shortcuts import render

from accounts.decorators import owner_required


@owner_required
def index(request):
    return render(request, "surveys/index.html", {"org": request.member.org})
