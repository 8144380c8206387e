/*-------------------------------------------------------------------------
 *
 * specauth.c
 *	  The auth and errors sections of a source spec.
 *
 * auth says how a source logs in: an API key, basic, a bearer token,
 * OAuth2, or a token the API hands out at its own endpoint for an app's
 * key and secret (DingTalk, WeCom, Feishu, Yonyou and many more), possibly
 * signed.  errors says where an API that answers 200 to everything puts
 * its own error code, and which codes mean "renew the token" or "retry".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sync/spec.h"

/*
 * Refuse a literal string under a member named like a credential
 * (app_secret, password, ...) in a token request's JSON body: it must be
 * a secret reference.
 */
static void
check_body_credentials(SyncSpecCtx *cx, json_t *v, const char *path)
{
	const char *k;
	json_t	   *e;

	if (!json_is_object(v))
		return;
	json_object_foreach(v, k, e)
	{
		if (json_is_object(e) && json_object_size(e) == 1 && json_object_get(e, "secret") != NULL)
			continue;			/* a secret reference */
		if (json_is_object(e))
			check_body_credentials(cx, e, sync_spec_sub(path, k));
		else if (!json_is_array(e) && !json_is_null(e) && sync_spec_credential_header(k))
			sync_spec_bad(cx, sync_spec_sub(path, k), psprintf("must be {\"secret\": \"name\"}, not %s", sync_spec_kind(e)),
						  "Credentials are kept in concord.secret: store it with concord.secret_set(name, value) and refer to it by name.");
	}
}

/* auth type token: where the token comes from and where it goes. */
static void
parse_token(SyncSpecCtx *cx, SyncSpec *s, json_t *a)
{
	static const char *const keys[] = {"type", "token_url", "method", "params", "headers", "body",
		"token_path", "expires_path", "in", "name", "prefix", "sign", NULL};
	static const char *const methods[] = {"GET", "POST", NULL};
	static const char *const where[] = {"header", "query", NULL};
	json_t	   *sign;
	json_t	   *body;

	sync_spec_keys(cx, a, "auth", keys);
	s->token_url = sync_spec_url(cx, a, "auth", "token_url", true);
	body = json_object_get(a, "body");
	s->token_method = pstrdup(methods[sync_spec_choice(cx, a, "auth", "method", methods,
													   body && !json_is_null(body) ? 1 : 0)]);
	s->token_params = sync_spec_pairs(cx, a, "auth", "params", &s->ntoken_params);
	for (int i = 0; i < s->ntoken_params; i++)
		if (s->token_params[i].value.literal && sync_spec_credential_header(s->token_params[i].name))
			sync_spec_bad(cx, sync_spec_sub("auth.params", s->token_params[i].name),
						  "must be {\"secret\": \"name\"}, not a string",
						  "Credentials are kept in concord.secret: store it with concord.secret_set(name, value) and refer to it by name.");
	s->token_headers = sync_spec_pairs(cx, a, "auth", "headers", &s->ntoken_headers);
	s->token_body = sync_spec_json_template(cx, a, "auth", "body");
	if (s->token_body)
	{
		if (strcmp(s->token_method, "POST") != 0)
			sync_spec_bad(cx, "auth.body", "needs auth.method POST", NULL);
		check_body_credentials(cx, body, "auth.body");
		if (sync_text_has_cursor(s->token_body))
			sync_spec_bad(cx, "auth.body", "cannot hold {cursor}", NULL);
	}
	s->token_path = sync_spec_path(cx, a, "auth", "token_path", false, true, &s->token_path_text);
	if (s->token_path == NULL)
	{
		char	   *err;

		s->token_path_text = pstrdup("$.access_token");
		s->token_path = sync_path_compile(s->token_path_text, true, &err);
	}
	s->expires_path = sync_spec_path(cx, a, "auth", "expires_path", false, true, NULL);
	s->token_in_query = sync_spec_choice(cx, a, "auth", "in", where, 0) == 1;
	s->token_name = sync_spec_string(cx, a, "auth", "name", false,
									 s->token_in_query ? "access_token" : "Authorization");
	if (s->token_name[0] == '\0' || strpbrk(s->token_name, ":\r\n =&") != NULL)
		sync_spec_bad(cx, "auth.name", psprintf("must be a header or parameter name, not \"%s\"", s->token_name), NULL);
	s->token_prefix = sync_spec_string(cx, a, "auth", "prefix", false,
									   !s->token_in_query && pg_strcasecmp(s->token_name, "Authorization") == 0 ?
									   "Bearer " : "");
	if (strpbrk(s->token_prefix, "\r\n") != NULL)
		sync_spec_bad(cx, "auth.prefix", "must not contain a line break", NULL);

	sign = sync_spec_object(cx, a, "auth", "sign", false);
	if (sign)
	{
		static const char *const skeys[] = {"param", "key", "message", NULL};

		sync_spec_keys(cx, sign, "auth.sign", skeys);
		s->sign_param = sync_spec_string(cx, sign, "auth.sign", "param", true, NULL);
		s->sign_key = sync_spec_value(cx, sign, "auth.sign", "key", true, true);
		s->sign_message = sync_spec_string(cx, sign, "auth.sign", "message", true, NULL);
		for (int i = 0; i < s->ntoken_params; i++)
			if (strcmp(s->token_params[i].name, s->sign_param) == 0)
				sync_spec_bad(cx, "auth.sign.param", psprintf("\"%s\" is also one of auth.params", s->sign_param), NULL);
	}
}

/*
 * The errors section: the API's own error code in its JSON answers.
 *
 *	 "errors": {"code_path": "$.errcode", "message_path": "$.errmsg",
 *				"ok": [0], "token_expired": [40014, 42001], "retry": [-1, 45009]}
 */
void
sync_spec_parse_errors(SyncSpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const keys[] = {"code_path", "message_path", "ok", "token_expired", "retry", NULL};
	json_t	   *e = sync_spec_object(cx, root, "", "errors", false);
	SyncErrors *x = &s->errors;

	if (e == NULL)
		return;
	sync_spec_keys(cx, e, "errors", keys);
	x->code_path = sync_spec_path(cx, e, "errors", "code_path", true, true, &x->code_path_text);
	x->message_path = sync_spec_path(cx, e, "errors", "message_path", false, true, NULL);
	x->ok = sync_spec_scalars(cx, e, "errors", "ok", &x->nok);
	if (x->nok == 0)
	{
		x->ok = palloc(sizeof(char *));
		x->ok[0] = pstrdup("0");
		x->nok = 1;
	}
	x->token = sync_spec_scalars(cx, e, "errors", "token_expired", &x->ntoken);
	x->retry = sync_spec_scalars(cx, e, "errors", "retry", &x->nretry);
	if (x->ntoken > 0 && s->auth != SYNC_AUTH_OAUTH2 && s->auth != SYNC_AUTH_TOKEN)
		sync_spec_bad(cx, "errors.token_expired", "needs auth type oauth2 or token: there is no token to renew", NULL);
}

/*
 * The auth section: how the source logs in.  Credentials only as secret
 * references (checked for the source's owner by fetch.c).
 */
void
sync_spec_parse_auth(SyncSpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const types[] = {"none", "api_key", "basic", "bearer", "oauth2", "token", NULL};
	json_t	   *a = sync_spec_object(cx, root, "", "auth", false);

	s->auth = a ? (SyncAuthType) sync_spec_choice(cx, a, "auth", "type", types, -1) : SYNC_AUTH_NONE;
	switch (s->auth)
	{
		case SYNC_AUTH_NONE:
			{
				static const char *const keys[] = {"type", NULL};

				if (a)
					sync_spec_keys(cx, a, "auth", keys);
				break;
			}
		case SYNC_AUTH_API_KEY:
			{
				static const char *const keys[] = {"type", "in", "name", "value", NULL};
				static const char *const where[] = {"header", "query", NULL};

				sync_spec_keys(cx, a, "auth", keys);
				s->api_key_in_query = sync_spec_choice(cx, a, "auth", "in", where, 0) == 1;
				s->api_key_name = sync_spec_string(cx, a, "auth", "name", false,
											 s->api_key_in_query ? "api_key" : "X-Api-Key");
				if (s->api_key_name[0] == '\0' || strpbrk(s->api_key_name, ":\r\n =&") != NULL)
					sync_spec_bad(cx, "auth.name", psprintf("must be a header or parameter name, not \"%s\"", s->api_key_name), NULL);
				s->api_key = sync_spec_value(cx, a, "auth", "value", true, true);
				break;
			}
		case SYNC_AUTH_BASIC:
			{
				static const char *const keys[] = {"type", "username", "password", NULL};

				sync_spec_keys(cx, a, "auth", keys);
				s->username = sync_spec_value(cx, a, "auth", "username", true, false);
				s->password = sync_spec_value(cx, a, "auth", "password", true, true);
				break;
			}
		case SYNC_AUTH_BEARER:
			{
				static const char *const keys[] = {"type", "token", NULL};

				sync_spec_keys(cx, a, "auth", keys);
				s->token = sync_spec_value(cx, a, "auth", "token", true, true);
				break;
			}
		case SYNC_AUTH_OAUTH2:
			{
				static const char *const keys[] = {"type", "grant_type", "token_url", "client_id",
				"client_secret", "refresh_token", "scope", "client_auth", NULL};
				static const char *const grants[] = {"client_credentials", "refresh_token", NULL};
				static const char *const cauth[] = {"body", "basic", NULL};

				sync_spec_keys(cx, a, "auth", keys);
				s->oauth_refresh = sync_spec_choice(cx, a, "auth", "grant_type", grants, 0) == 1;
				s->token_url = sync_spec_url(cx, a, "auth", "token_url", true);
				s->client_id = sync_spec_value(cx, a, "auth", "client_id", !s->oauth_refresh, false);
				s->client_secret = sync_spec_value(cx, a, "auth", "client_secret", !s->oauth_refresh, true);
				s->refresh_token = sync_spec_value(cx, a, "auth", "refresh_token", s->oauth_refresh, true);
				s->scope = sync_spec_string(cx, a, "auth", "scope", false, NULL);
				s->client_auth_basic = sync_spec_choice(cx, a, "auth", "client_auth", cauth, 0) == 1;
				if (s->client_auth_basic && s->client_id.literal == NULL && s->client_id.secret == NULL)
					sync_spec_bad(cx, "auth.client_id", "is required with client_auth basic", NULL);
				break;
			}
		case SYNC_AUTH_TOKEN:
			parse_token(cx, s, a);
			break;
	}
}
