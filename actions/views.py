from django.shortcuts import render

from accounts.decorators import member_required


@member_required
def inbox(request):
    return render(request, "actions/inbox.html", {"org": request.member.org})
