/**
 * The project's own migration chain (test/fixtures/chain), a small shop built up file by file
 * with every operation kind and every field of the format: once as a plain `migrate --complete`,
 * once step by step with rows written through the old and the new version.
 */
import { describe, expect, it } from 'vitest';
import { columnNamesOf, columnOf, constraintsOf, indexesOf } from '../helpers/catalog.js';
import { type ChainSpec, chainStepByStep, plainChain } from '../helpers/chain-run.js';
import { ownChain } from '../helpers/chains.js';
import { rows } from '../helpers/cycle.js';
import { testServerMajor } from '../helpers/db.js';

const serverMajor = await testServerMajor();

const spec: ChainSpec = {
  run: await ownChain(serverMajor),
  upChecks: {
    '05_loyalty_and_references': [
      // The writer signs every customer up in 2024.
      { table: 'customers', holds: 'loyalty_points = 100' },
      { table: 'orders', holds: 'reference IS NOT NULL' },
    ],
    '07_order_status_enum': [{ table: 'orders', holds: `status = 'pending'` }],
    '10_customer_contact': [
      { table: 'customers', holds: `phone ~ '^[0-9]+$' OR phone = 'unknown-' || id` },
    ],
    '12_referrals': [
      {
        table: 'customers',
        holds: 'referred_by IS NULL OR referred_by IN (SELECT id FROM customers)',
      },
    ],
    '16_phone_unique': [{ table: 'customers', holds: `phone ~ '^[0-9+]+$'` }],
    '17_review_authors': [
      {
        table: 'reviews',
        holds: 'customer_id IS NULL OR customer_id IN (SELECT id FROM customers)',
      },
    ],
    '21_returns': [
      {
        table: 'reviews',
        holds:
          'line_no IS NULL OR (order_id, line_no) IN (SELECT order_id, line_no FROM order_items)',
      },
    ],
  },
  downChecks: {
    '07_order_status_enum': [{ table: 'orders', holds: `status = 'pending'` }],
    '14_drop_line_price': [
      {
        table: 'order_items',
        holds: 'unit_price = (SELECT price FROM products p WHERE p.id = product_id)',
      },
    ],
  },
  beforeStart: {
    // Customers without a phone number, for 10's up to give one.
    '10_customer_contact': [
      'UPDATE customers SET phone = NULL WHERE id IN (SELECT id FROM customers ORDER BY id LIMIT 3)',
    ],
  },
  values: {
    'flash_sales.discount_percent': (n) => String(1 + (n % 90)),
    // Sales that are not cancelled must not overlap: the writer's ranges never do.
    'flash_sales.cancelled': () => 'false',
    'order_lines.quantity': (n) => String(1 + (n % 20)),
    'order_items.quantity': (n) => String(1 + (n % 20)),
    'reviews.rating': (n) => String(1 + (n % 5)),
  },
};

describe('own chain: plain', () => {
  for (const { file, why } of spec.run.leftOut) {
    it.skipIf(true)(`${file} (skipped: ${why})`, () => {});
  }

  const chain = plainChain(spec);

  it('leaves the schema the chain describes', async () => {
    const db = chain.db().pool;
    const withReturns = serverMajor >= 15;
    const relations = (kind: string) =>
      rows<{ name: string }>(
        db,
        `SELECT relname AS name FROM pg_class
          WHERE relnamespace = 'public'::regnamespace AND relkind = $1 ORDER BY 1`,
        [kind],
      );
    expect((await relations('r')).map((r) => r.name)).toEqual([
      'customers',
      'flash_sales',
      'order_items',
      'orders',
      'products',
      ...(withReturns ? ['returns'] : []),
      'reviews',
    ]);
    // 20's SQL ran at complete, over the final tables.
    expect(await relations('v')).toEqual([{ name: 'customer_order_counts' }]);
    const [customer] = await rows<{ id: string }>(
      db,
      `INSERT INTO customers (email, phone) VALUES ('ada@example.com', '+4412') RETURNING id`,
    );
    await db.query(`INSERT INTO orders (customer_id, placed_at) VALUES ($1, now()), ($1, now())`, [
      customer?.id,
    ]);
    expect(
      await rows(db, 'SELECT customer_id::int, orders::int FROM customer_order_counts'),
    ).toEqual([{ customer_id: 1000, orders: 2 }]);
    const last = spec.run.runs.at(-1)?.migration.name;
    expect(
      await rows(db, `SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'public\\_%'`),
    ).toEqual([{ name: `public_${last}` }]);

    expect(await columnNamesOf(db, 'customers')).toEqual([
      'id',
      'display_name',
      'signed_up_at',
      'loyalty_points',
      'email',
      'referred_by',
      'phone',
    ]);
    expect(await columnOf(db, 'customers', 'display_name')).toEqual([
      { type: 'text', notnull: false, default: null, comment: null },
    ]);
    expect(await columnOf(db, 'customers', 'email')).toEqual([
      { type: 'text', notnull: true, default: null, comment: null },
    ]);
    expect(await columnOf(db, 'customers', 'loyalty_points')).toEqual([
      {
        type: 'integer',
        notnull: true,
        default: '0',
        comment: 'Customers who signed up before 2025 start with 100 points',
      },
    ]);
    expect(await columnOf(db, 'orders', 'status')).toEqual([
      {
        type: 'order_status',
        notnull: true,
        default: `'pending'::order_status`,
        comment: 'Set by the payment and shipping services',
      },
    ]);
    expect(await columnOf(db, 'orders', 'placed_at')).toMatchObject([{ default: null }]);
    expect(await columnNamesOf(db, 'orders')).toEqual([
      'id',
      'customer_id',
      'placed_at',
      'delivery_note',
      'reference',
      'flash_sale_id',
      'status',
    ]);
    expect(await columnNamesOf(db, 'order_items')).toEqual([
      'order_id',
      'line_no',
      'product_id',
      'quantity',
    ]);
    expect(
      await rows(
        db,
        `SELECT c.relname AS table, a.attname AS column, a.attidentity AS identity,
                a.attgenerated AS generated, s.seqstart::int AS start
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           LEFT JOIN pg_sequence s
             ON s.seqrelid = pg_get_serial_sequence(format('%I', c.relname), a.attname)::regclass
          WHERE c.relname IN ('customers', 'flash_sales', 'products')
            AND c.relnamespace = 'public'::regnamespace
            AND (a.attidentity <> '' OR a.attgenerated <> '')
          ORDER BY 1, 2`,
      ),
    ).toEqual([
      { table: 'customers', column: 'id', identity: 'd', generated: '', start: 1000 },
      { table: 'flash_sales', column: 'id', identity: 'd', generated: '', start: 1 },
      { table: 'flash_sales', column: 'sale_no', identity: 'd', generated: '', start: 100 },
      { table: 'flash_sales', column: 'slug', identity: '', generated: 's', start: null },
      { table: 'products', column: 'search', identity: '', generated: 's', start: null },
    ]);
    expect(
      await rows(
        db,
        `SELECT relname AS table, relreplident AS identity,
                (SELECT indexrelid::regclass::text FROM pg_index
                  WHERE indrelid = c.oid AND indisreplident) AS index
           FROM pg_class c WHERE oid IN ('customers'::regclass, 'order_items'::regclass)
          ORDER BY 1`,
      ),
    ).toEqual([
      { table: 'customers', identity: 'i', index: 'customers_email_key' },
      { table: 'order_items', identity: 'f', index: null },
    ]);

    const definitions = async (table: string) =>
      Object.fromEntries((await constraintsOf(db, table)).map((c) => [c.name, c.def]));
    expect(await definitions('customers')).toEqual({
      customers_email_key: 'UNIQUE (email)',
      customers_email_length: 'CHECK ((length(email) >= 3))',
      customers_loyalty_points_non_negative: 'CHECK ((loyalty_points >= 0)) NO INHERIT',
      customers_phone_key: 'UNIQUE (phone) INCLUDE (display_name)',
      customers_pkey: 'PRIMARY KEY (id)',
      customers_referred_by_fk:
        'FOREIGN KEY (referred_by) REFERENCES customers(id) MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED',
    });
    expect(await definitions('products')).toEqual({
      products_pkey: 'PRIMARY KEY (id)',
      products_price_not_negative: 'CHECK ((price >= (0)::numeric)) NO INHERIT',
      products_sku_key: 'UNIQUE (sku)',
      products_sku_length: 'CHECK (((length(sku) >= 3) AND (length(sku) <= 32))) NO INHERIT',
      products_title_key: 'UNIQUE (title)',
    });
    expect(await definitions('orders')).toEqual({
      orders_customer_fk:
        'FOREIGN KEY (customer_id) REFERENCES customers(id) ON UPDATE CASCADE ON DELETE RESTRICT',
      orders_flash_sale_fk:
        'FOREIGN KEY (flash_sale_id) REFERENCES flash_sales(id) MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED',
      orders_pkey: 'PRIMARY KEY (id)',
      orders_reference_key: 'UNIQUE (reference)',
    });
    expect(await definitions('order_items')).toEqual({
      order_items_pk: 'PRIMARY KEY (order_id, line_no) INCLUDE (product_id)',
      order_items_quantity_limit: 'CHECK ((quantity <= 1000)) NO INHERIT',
      order_lines_order_fk:
        'FOREIGN KEY (order_id) REFERENCES orders(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED',
      order_lines_product_fk:
        'FOREIGN KEY (product_id) REFERENCES products(id) MATCH FULL ON UPDATE CASCADE',
      order_lines_quantity_positive: 'CHECK ((quantity > 0))',
    });
    expect(await definitions('flash_sales')).toEqual({
      flash_sales_discount_range: 'CHECK (((discount_percent >= 1) AND (discount_percent <= 90)))',
      flash_sales_no_overlap:
        "EXCLUDE USING gist (during WITH &&) INCLUDE (title) WITH (fillfactor='80') WHERE ((NOT cancelled)) DEFERRABLE",
      flash_sales_pkey: 'PRIMARY KEY (id)',
    });
    expect(await definitions('reviews')).toEqual({
      reviews_customer_fk:
        'FOREIGN KEY (customer_id) REFERENCES customers(id) MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL',
      ...(withReturns
        ? {
            reviews_order_line_fk:
              'FOREIGN KEY (order_id, line_no) REFERENCES order_items(order_id, line_no) ON DELETE SET NULL (line_no)',
          }
        : {}),
      reviews_pkey: 'PRIMARY KEY (id)',
      reviews_product_fk:
        'FOREIGN KEY (product_id) REFERENCES products(id) MATCH FULL ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED',
      reviews_rating_range: 'CHECK (((rating >= 1) AND (rating <= 5)))',
    });
    if (withReturns) {
      expect(await definitions('returns')).toEqual({
        returns_line_fk:
          'FOREIGN KEY (order_id, line_no) REFERENCES order_items(order_id, line_no) ON DELETE SET NULL (line_no)',
        returns_one_per_line: 'UNIQUE NULLS NOT DISTINCT (order_id, line_no)',
        returns_pkey: 'PRIMARY KEY (id)',
      });
    }

    // Indexes the chain made beyond those of its constraints, and their parameters.
    const indexes = async (table: string) =>
      Object.fromEntries(
        (await indexesOf(db, table))
          .filter((i) => i.valid)
          .map((i) => [i.name, i.def.replace(/^.* USING /, '')]),
      );
    expect(await indexes('products')).toMatchObject({
      products_search_idx: "gist (search tsvector_ops (siglen='64'))",
      products_title_prefix_idx: 'btree (title COLLATE "C" text_pattern_ops)',
    });
    expect(await indexes('orders')).toEqual({
      orders_customer_recent_idx: 'btree (customer_id, placed_at DESC NULLS LAST)',
      orders_pkey: 'btree (id)',
      orders_reference_key: 'btree (reference)',
    });
    expect(await indexes('customers')).toEqual({
      customers_email_key: 'btree (email)',
      customers_phone_key: "btree (phone) INCLUDE (display_name) WITH (fillfactor='80')",
      customers_pkey: 'btree (id)',
    });
    expect(await indexes('order_items')).toEqual({
      order_items_pk: "btree (order_id, line_no) INCLUDE (product_id) WITH (fillfactor='90')",
    });
  });
});

describe('own chain: step by step with data', () => {
  chainStepByStep(spec);
});
