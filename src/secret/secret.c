/*-------------------------------------------------------------------------
 *
 * secret.c
 *	  Named secrets: AES-256-GCM (OpenSSL) under a 32-byte key kept in a
 *	  file outside the database tables, created with mode 0600 on first use.
 *
 * A sealed value is nonce (12 bytes) | ciphertext | tag (16 bytes), with the
 * secret's name as associated data, so a value moved to another name fails
 * to open.  Each row records the id of the key that sealed it; rotation
 * writes the new key beside the current one, re-seals every row, and swaps
 * the files when the transaction commits, so a failure at any point leaves
 * every row readable with some key file present.
 *
 * No SQL function returns a plaintext: secret_resolve_for() is for C
 * callers (HTTP headers, source credentials, endpoint signatures) and
 * resolves a secret only for a role allowed to use it (grant.c);
 * secret_resolve_internal() is for concord's own keys.  No message ever
 * includes a value, and statements that carry one are kept out of the
 * server log (log.c).  A value can also be read from a server-side file
 * (secret_set_file), so that it appears in no statement text at all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "concord.h"
#include "secret/secret.h"

PG_FUNCTION_INFO_V1(concord_secret_set);
PG_FUNCTION_INFO_V1(concord_secret_set_file);
PG_FUNCTION_INFO_V1(concord_secret_drop);
PG_FUNCTION_INFO_V1(concord_secret_rotate_key);

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_ID_LEN 16			/* hex characters */
/* Largest file secret_set_file() reads (a PEM key with its chain fits). */
#define SECRET_FILE_MAX (64 * 1024)

typedef struct SecretKey
{
	unsigned char key[KEY_LEN];
	char		id[KEY_ID_LEN + 1];
} SecretKey;

/* Key file paths swapped at commit by a rotation, or NULL. */
static char *rotate_next_path = NULL;

/* The configured key file, or the default in the data directory. */
static char *
key_path(void)
{
	if (concord_secret_key_file && concord_secret_key_file[0] != '\0')
		return pstrdup(concord_secret_key_file);
	return psprintf("%s/concord_secret.key", DataDir);
}

/* Fill k->id from k->key: the first 8 bytes of its SHA-256, in hex. */
static void
set_key_id(SecretKey *k)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(k->key, KEY_LEN, digest, &len, EVP_sha256(), NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not hash the secret key")));
	for (int i = 0; i < KEY_ID_LEN / 2; i++)
		snprintf(k->id + 2 * i, 3, "%02x", digest[i]);
}

/*
 * Read a key file.  Returns false if it does not exist (and !must_exist);
 * any other problem is an error naming the file, never its content.
 */
static bool
read_key(const char *path, bool must_exist, SecretKey *k)
{
	int			fd = open(path, O_RDONLY | PG_BINARY, 0);
	unsigned char buf[KEY_LEN + 1];
	ssize_t		n;

	if (fd < 0)
	{
		if (errno == ENOENT && !must_exist)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open secret key file \"%s\": %m", path),
				 errhint("The key file is created by the first concord.secret_set(); restore it from your backup if secrets were stored before.")));
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("secret key file \"%s\" must hold %d bytes, not %d",
						path, KEY_LEN, (int) n)));
	memcpy(k->key, buf, KEY_LEN);
	explicit_bzero(buf, sizeof(buf));
	set_key_id(k);
	return true;
}

/* Write a new random key to path (mode 0600, which must not exist). */
static void
write_new_key(const char *path, SecretKey *k)
{
	int			fd;

	if (RAND_bytes(k->key, KEY_LEN) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a secret key")));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create secret key file \"%s\": %m", path)));
	if (write(fd, k->key, KEY_LEN) != KEY_LEN || pg_fsync(fd) != 0)
	{
		int			save = errno;

		close(fd);
		unlink(path);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write secret key file \"%s\": %m", path)));
	}
	close(fd);
	set_key_id(k);
}

/* The current key, created on first use when create is true. */
static bool
current_key(bool create, SecretKey *k)
{
	char	   *path = key_path();

	if (read_key(path, !create, k))
		return true;
	write_new_key(path, k);
	/* logged from inside secret_set(), whose statement holds a value */
	ereport(LOG,
			(errmsg("concord created secret key file \"%s\"", path),
			 errhidestmt(true),
			 errhidecontext(true)));
	return true;
}

/*
 * The key with the given id among the current key file and the rotation
 * files beside it (".next" during or after an interrupted rotation,
 * ".prev" after one).
 */
static bool
key_by_id(const char *id, SecretKey *k)
{
	char	   *base = key_path();
	const char *suffixes[] = {"", ".next", ".prev"};

	for (int i = 0; i < 3; i++)
	{
		char	   *path = psprintf("%s%s", base, suffixes[i]);

		if (read_key(path, false, k) && strcmp(k->id, id) == 0)
			return true;
	}
	return false;
}

/* Seal value under key k with name as associated data. */
static bytea *
seal(const SecretKey *k, const char *name, const char *value, int len)
{
	bytea	   *out = palloc(VARHDRSZ + NONCE_LEN + len + TAG_LEN);
	unsigned char *p = (unsigned char *) VARDATA(out);
	EVP_CIPHER_CTX *ctx;
	int			n = 0,
				fin = 0;
	bool		ok;

	if (RAND_bytes(p, NONCE_LEN) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a nonce")));
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, p) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *) name, strlen(name)) == 1 &&
		EVP_EncryptUpdate(ctx, p + NONCE_LEN, &n, (const unsigned char *) value, len) == 1 &&
		EVP_EncryptFinal_ex(ctx, p + NONCE_LEN + n, &fin) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, p + NONCE_LEN + len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not encrypt secret \"%s\"", name)));
	SET_VARSIZE(out, VARHDRSZ + NONCE_LEN + len + TAG_LEN);
	return out;
}

/* Open a sealed value; NULL when the tag does not verify. */
static char *
unseal(const SecretKey *k, const char *name, const bytea *sealed)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(sealed);
	int			total = VARSIZE_ANY_EXHDR(sealed);
	int			len = total - NONCE_LEN - TAG_LEN;
	char	   *out;
	EVP_CIPHER_CTX *ctx;
	int			n = 0,
				fin = 0;
	bool		ok;

	if (len < 0)
		return NULL;
	out = palloc(len + 1);
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, p) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *) name, strlen(name)) == 1 &&
		EVP_DecryptUpdate(ctx, (unsigned char *) out, &n, p + NONCE_LEN, len) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
							(void *) (p + NONCE_LEN + len)) == 1 &&
		EVP_DecryptFinal_ex(ctx, (unsigned char *) out + n, &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
	{
		explicit_bzero(out, len + 1);
		pfree(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

/*
 * The plaintext of a secret, whoever asks: for concord's own keys, and for
 * secret_resolve_for() once the role is checked.  The table is read
 * directly, without the caller's privileges: roles that may use a secret
 * through a header or a source may not read the table.
 */
char *
secret_resolve_internal(const char *name, int *errcode, char **errmsg)
{
	Oid			relid = concord_relation_oid("secret", false);
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	att_name = get_attnum(relid, "name");
	AttrNumber	att_key = get_attnum(relid, "key_id");
	AttrNumber	att_sealed = get_attnum(relid, "sealed");
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	HeapTuple	tup;
	char	   *key_id = NULL;
	bytea	   *sealed = NULL;
	SecretKey	k;
	char	   *plain;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, att_name, desc, &isnull);

		if (isnull || strcmp(TextDatumGetCString(d), name) != 0)
			continue;
		key_id = TextDatumGetCString(heap_getattr(tup, att_key, desc, &isnull));
		sealed = DatumGetByteaPCopy(heap_getattr(tup, att_sealed, desc, &isnull));
		break;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	if (sealed == NULL)
	{
		*errcode = ERRCODE_UNDEFINED_OBJECT;
		*errmsg = psprintf("secret \"%s\" does not exist", name);
		return NULL;
	}
	if (!key_by_id(key_id, &k))
	{
		*errcode = ERRCODE_UNDEFINED_FILE;
		*errmsg = psprintf("the key that sealed secret \"%s\" (key id %s) is not in the key file", name, key_id);
		return NULL;
	}
	plain = unseal(&k, name, sealed);
	explicit_bzero(&k, sizeof(k));
	if (plain == NULL)
	{
		*errcode = ERRCODE_DATA_CORRUPTED;
		*errmsg = psprintf("secret \"%s\" cannot be decrypted: its authentication tag does not match", name);
		return NULL;
	}
	return plain;
}

/*
 * The plaintext of a user's secret for role: refused, as
 * secret_check_use() says, unless role may use it.
 */
char *
secret_resolve_for(const char *name, Oid role, int *errcode, char **errmsg,
				   char **errhint)
{
	*errhint = NULL;
	if (!secret_check_use(name, role, errcode, errmsg, errhint))
		return NULL;
	return secret_resolve_internal(name, errcode, errmsg);
}

/* Run one SPI statement with text/bytea parameters; returns rows processed. */
static uint64
spi_run(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/* Raise unless the current role is a superuser: only superusers set secrets. */
static void
check_superuser(const char *fn)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to call %s", fn),
				 errhint("A superuser sets a secret; its owner then allows roles to use it with concord.secret_grant(name, role)."),
				 errhidestmt(true)));
}

/* Raise unless name is a valid secret name. */
static void
check_name(const char *name)
{
	bool		valid = strlen(name) >= 1 && strlen(name) <= 63 &&
		(isalpha((unsigned char) name[0]) || name[0] == '_');

	for (const char *c = name; valid && *c; c++)
		valid = isalnum((unsigned char) *c) || strchr("_.-", *c) != NULL;
	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid secret name \"%s\"", name),
				 errhint("Use up to 63 letters, digits, \"_\", \".\" or \"-\", starting with a letter or \"_\", e.g. crm_token."),
				 errhidestmt(true)));
}

/*
 * Seal value (len bytes) under the current key (created on first use) and
 * store it as secret name, replacing any value it had; its owner stays.
 */
static void
store(const char *name, const char *value, int len)
{
	SecretKey	k;
	bytea	   *sealed;
	Oid			types[3] = {TEXTOID, TEXTOID, BYTEAOID};
	Datum		values[3];

	current_key(true, &k);
	sealed = seal(&k, name, value, len);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(k.id);
	values[2] = PointerGetDatum(sealed);
	explicit_bzero(&k, sizeof(k));

	SPI_connect();
	spi_run("INSERT INTO concord.secret AS s (name, key_id, sealed) VALUES ($1, $2, $3)"
			" ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id,"
			" sealed = excluded.sealed, updated_at = pg_catalog.now()",
			3, types, values);
	SPI_finish();
}

/*
 * concord.secret_set(name, value): store or replace a secret (superusers).
 * The statement carries the value: it is kept out of the server log.
 */
Datum
concord_secret_set(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *value = PG_GETARG_TEXT_PP(1);

	secret_statement_mark();
	check_superuser("concord.secret_set");
	check_name(name);
	store(name, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	PG_RETURN_VOID();
}

/*
 * concord.secret_set_file(name, path): store or replace a secret read from
 * a file on the database server (superusers), so that the value is in no
 * statement text, log line or pg_stat_activity.  The path must be absolute
 * and name a regular file of at most SECRET_FILE_MAX bytes; one trailing
 * line break is not part of the value.
 */
Datum
concord_secret_set_file(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	struct stat st;
	int			fd;
	char	   *buf;
	ssize_t		n;
	int			len;

	secret_statement_mark();
	check_superuser("concord.secret_set_file");
	check_name(name);
	if (!is_absolute_path(path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("secret file path \"%s\" is not absolute", path),
				 errhint("Give the full path of a file the database server can read.")));
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open secret file \"%s\": %m", path),
				 errhint("The file is read by the database server, as its operating system user.")));
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat secret file \"%s\": %m", path)));
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("secret file \"%s\" is not a regular file", path)));
	if (st.st_size > SECRET_FILE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("secret file \"%s\" has %lld bytes, more than the %d a secret may have",
						path, (long long) st.st_size, SECRET_FILE_MAX)));

	/* one byte more than the limit: a file that grew since fstat shows */
	buf = palloc(SECRET_FILE_MAX + 2);
	len = 0;
	while ((n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len)) > 0)
		len += n;
	if (n < 0)
	{
		int			save = errno;

		explicit_bzero(buf, SECRET_FILE_MAX + 2);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read secret file \"%s\": %m", path)));
	}
	CloseTransientFile(fd);
	buf[len] = '\0';

	PG_TRY();
	{
		if (len > SECRET_FILE_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("secret file \"%s\" has more than the %d bytes a secret may have",
							path, SECRET_FILE_MAX)));
		if (len > 0 && buf[len - 1] == '\n')
		{
			buf[--len] = '\0';
			if (len > 0 && buf[len - 1] == '\r')
				buf[--len] = '\0';
		}
		if (len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("secret file \"%s\" is empty", path)));
		if (memchr(buf, '\0', len) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("secret file \"%s\" contains a zero byte", path),
					 errhint("A secret is text; store binary keys encoded, e.g. in base64.")));
		if (!pg_verifymbstr(buf, len, true))
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("secret file \"%s\" is not valid %s", path, GetDatabaseEncodingName()),
					 errhint("A secret is text in the database's encoding.")));
		store(name, buf, len);
	}
	PG_FINALLY();
	{
		explicit_bzero(buf, SECRET_FILE_MAX + 2);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * concord.secret_drop(name): remove a secret.
 */
Datum
concord_secret_drop(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {PG_GETARG_DATUM(0)};
	uint64		n;

	SPI_connect();
	n = spi_run("DELETE FROM concord.secret WHERE name OPERATOR(pg_catalog.=) $1",
				1, types, values);
	SPI_finish();
	PG_RETURN_BOOL(n > 0);
}

/* At commit of a rotation, make the new key current; at abort, drop it. */
static void
rotate_xact_callback(XactEvent event, void *arg)
{
	char	   *base;
	char	   *prev;

	if (rotate_next_path == NULL)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT)
		return;
	base = pnstrdup(rotate_next_path, strlen(rotate_next_path) - strlen(".next"));
	if (event == XACT_EVENT_COMMIT)
	{
		prev = psprintf("%s.prev", base);
		if ((access(base, F_OK) == 0 && rename(base, prev) != 0) ||
			rename(rotate_next_path, base) != 0)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not make the new secret key current: %m"),
					 errdetail("Secrets stay readable: the new key remains in \"%s\".", rotate_next_path)));
	}
	else
		unlink(rotate_next_path);
	pfree(rotate_next_path);
	rotate_next_path = NULL;
}

/*
 * concord.secret_rotate_key(): re-seal every secret under a new key, made
 * current when the transaction commits.
 */
Datum
concord_secret_rotate_key(PG_FUNCTION_ARGS)
{
	static bool callback_registered = false;
	char	   *base = key_path();
	char	   *next = psprintf("%s.next", base);
	SecretKey	newk;
	uint64		n;
	Oid			types[3] = {TEXTOID, TEXTOID, BYTEAOID};

	if (rotate_next_path != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the secret key was already rotated in this transaction")));
	(void) unlink(next);		/* left over from an aborted rotation */
	write_new_key(next, &newk);
	if (!callback_registered)
	{
		RegisterXactCallback(rotate_xact_callback, NULL);
		callback_registered = true;
	}
	rotate_next_path = MemoryContextStrdup(TopMemoryContext, next);

	SPI_connect();
	if (SPI_execute("SELECT name, key_id, sealed FROM concord.secret ORDER BY name FOR UPDATE",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.secret");
	n = SPI_processed;
	{
		SPITupleTable *tt = SPI_tuptable;

		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;
			char	   *name = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
			char	   *key_id = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			bytea	   *sealed = DatumGetByteaPP(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
			SecretKey	oldk;
			char	   *plain;
			Datum		values[3];

			if (!key_by_id(key_id, &oldk) || (plain = unseal(&oldk, name, sealed)) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("secret \"%s\" cannot be decrypted, so the key cannot be rotated", name),
						 errhint("Set it again with concord.secret_set() or drop it, then rotate.")));
			values[0] = CStringGetTextDatum(name);
			values[1] = CStringGetTextDatum(newk.id);
			values[2] = PointerGetDatum(seal(&newk, name, plain, strlen(plain)));
			explicit_bzero(plain, strlen(plain));
			explicit_bzero(&oldk, sizeof(oldk));
			spi_run("UPDATE concord.secret SET key_id = $2, sealed = $3, updated_at = pg_catalog.now()"
					" WHERE name OPERATOR(pg_catalog.=) $1", 3, types, values);
		}
	}
	SPI_finish();
	explicit_bzero(&newk, sizeof(newk));
	PG_RETURN_INT32((int32) n);
}
