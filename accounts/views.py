from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from .decorators import member_required


@member_required
def settings_page(request):
    return render(request, "accounts/settings.html", {"org": request.member.org})


@login_required
def no_business(request):
    if request.member:
        return redirect("home")
    return render(request, "accounts/no_business.html")
