def test_it_answers_429_after_too_many_wrong_links_from_one_address(client, db, settings):
    settings.HEARD = {**settings.HEARD, "TOKEN_GUESS_LIMIT_PER_MINUTE": 3}
    statuses = [client.get(f"/f/wrong-token-{n}/").status_code for n in range(5)]
    assert statuses[:3] == [404, 404, 404]
    assert statuses[3:] == [429, 429]
    assert client.post("/f/another-wrong/consent/").status_code == 429
