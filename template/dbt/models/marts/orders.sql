with orders as (
    select * from {{ ref('stg_orders') }}
),

payments as (
    select * from {{ ref('stg_payments') }}
),

order_payments as (
    select
        order_id,
        sum(amount) as amount,
        count(*) as payment_count
    from payments
    group by order_id
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.status,
        coalesce(order_payments.amount, 0) as amount,
        coalesce(order_payments.payment_count, 0) as payment_count
    from orders
    left join order_payments on orders.order_id = order_payments.order_id
)

select * from final
