def membership(request):
    member = getattr(request, "member", None)
    if member is None or not member:
        return {"member": None, "current_org": None}
    return {"member": member, "current_org": member.org}
